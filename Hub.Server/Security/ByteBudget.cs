using System.Runtime.InteropServices;
using CollabHub.Protocol;

namespace CollabHub.Server.Security;

/// <summary>
/// A token bucket of bytes whose cost is known only after the work: a read is let in while the balance is above
/// zero, then charged what it served, which may take the balance below zero; the debt is paid back by the refill
/// before the next read is let in. (System.Threading.RateLimiting buckets cannot go below zero.)
/// </summary>
internal sealed class ByteBudget
{
    private readonly Lock _lock = new();
    private readonly long _bytesPerSecond;
    private readonly long _burst;
    private readonly TimeProvider _clock;
    private long _balance;
    private long _refilledAt;

    public ByteBudget(long bytesPerSecond, long burst, TimeProvider clock)
    {
        _bytesPerSecond = bytesPerSecond;
        _burst = burst;
        _clock = clock;
        _balance = burst;
        _refilledAt = clock.GetTimestamp();
    }

    public bool HasBudget()
    {
        lock (_lock)
        {
            Refill();
            return _balance > 0;
        }
    }

    public void Charge(long bytes)
    {
        lock (_lock)
        {
            Refill();
            _balance -= bytes;
        }
    }

    /// <summary>What a read answer costs: the UTF-8 JSON of its values and bodies (keys and envelopes are bounded by the item count).</summary>
    public static long SizeOf(IReadOnlyList<Entry> entries, IReadOnlyList<Message> messages)
    {
        long bytes = 0;
        foreach (var entry in entries)
        {
            bytes += entry.Key.Length + (entry.Value is { } value ? JsonMarshal.GetRawUtf8Value(value).Length : 0);
        }
        foreach (var message in messages)
        {
            bytes += JsonMarshal.GetRawUtf8Value(message.Body).Length;
        }
        return bytes;
    }

    private void Refill()
    {
        var now = _clock.GetTimestamp();
        var earned = (long)(_clock.GetElapsedTime(_refilledAt, now).TotalSeconds * _bytesPerSecond);
        if (earned > 0)
        {
            _balance = Math.Min(_burst, _balance + earned);
            _refilledAt = now;
        }
    }
}
