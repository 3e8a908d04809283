namespace CollabHub.Client.Internal;

/// <summary>Exponential backoff with full jitter: before attempt n, a random wait in [0, min(min * 2^(n-1), max)).</summary>
internal sealed class Backoff(TimeSpan min, TimeSpan max)
{
    /// <summary>The wait before retry number <paramref name="attempt"/> (1 for the first retry).</summary>
    public TimeSpan Delay(int attempt)
    {
        var step = min.TotalMilliseconds * Math.Pow(2, Math.Min(Math.Max(attempt, 1) - 1, 30));
        step = Math.Min(step, max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * step);
    }
}
