using System.Diagnostics;
using CollabHub.Bench.Measurement;

namespace CollabHub.Bench.Driver;

/// <summary>What a writer did: Sets sent, acknowledged and failed, over how long it sent.</summary>
internal readonly record struct WriterOutcome(long Sent, long Acked, long Failed, TimeSpan Elapsed)
{
    public double SentPerSecond => Sent / Math.Max(Elapsed.TotalSeconds, 1e-9);

    /// <summary>Writers that ran side by side, as one: their counts added, over the longest of their times.</summary>
    public static WriterOutcome Sum(IReadOnlyCollection<WriterOutcome> outcomes) => new(
        outcomes.Sum(o => o.Sent), outcomes.Sum(o => o.Acked), outcomes.Sum(o => o.Failed), outcomes.Max(o => o.Elapsed));
}

/// <summary>
/// One connection sending Sets at a fixed rate (or as fast as the window allows, when the rate is null) for a
/// duration, with at most <c>window</c> writes unanswered, or, with a <see cref="DeliveryCounter"/>, not yet delivered
/// to every listener: when the system falls behind, the window fills and the offered rate drops, which the outcome
/// shows. Keys cycle over 100 per writer.
/// </summary>
internal static class PacedWriter
{
    /// <summary>How long a writer waits for a write's events before it stops counting it against its window.</summary>
    private static readonly TimeSpan DeliveryPatience = TimeSpan.FromSeconds(10);

    public static async Task<WriterOutcome> RunAsync(IBenchClient client, string roomId, double? rate, TimeSpan duration, int window, DeliveryCounter? delivery = null, int listeners = 0, string keyPrefix = "k")
    {
        using var inFlight = new SemaphoreSlim(window);
        var sends = new List<Task>();
        long sent = 0, acked = 0, failed = 0;
        var clock = Stopwatch.StartNew();
        var keys = Enumerable.Range(0, 100).Select(i => $"{keyPrefix}{i}").ToArray();

        async Task SendAsync(string key)
        {
            var value = BenchValue.Now();
            var delivered = delivery?.Expect(value.T, listeners);
            try
            {
                await client.SetAsync(roomId, key, value);
                Interlocked.Increment(ref acked);
                if (delivered is not null)
                {
                    await delivered.WaitAsync(DeliveryPatience);
                }
            }
            catch (TimeoutException)
            {
                delivery!.Forget(value.T);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref failed);
            }
            finally
            {
                inFlight.Release();
            }
        }

        while (clock.Elapsed < duration)
        {
            var due = rate is { } r ? (long)(clock.Elapsed.TotalSeconds * r) + 1 : sent + 1;
            while (sent < due && clock.Elapsed < duration)
            {
                await inFlight.WaitAsync();
                sends.Add(SendAsync(keys[sent % keys.Length]));
                sent++;
            }
            if (rate is not null)
            {
                await Task.Delay(1);
            }
        }
        var elapsed = clock.Elapsed;
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
        return new WriterOutcome(sent, Interlocked.Read(ref acked), Interlocked.Read(ref failed), elapsed);
    }
}
