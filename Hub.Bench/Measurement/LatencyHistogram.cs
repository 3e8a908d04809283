using System.Numerics;

namespace CollabHub.Bench.Measurement;

/// <summary>
/// Latencies in microseconds, recorded from many threads without locks or allocation: log-linear buckets (exact
/// below 256 µs, then 128 buckets per power of two, under 1% error), from which percentiles are read.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int Linear = 256;
    private const int SubBuckets = 128;
    private readonly long[] _counts = new long[Linear + 64 * SubBuckets];
    private long _total;

    public long Count => Interlocked.Read(ref _total);

    public void Record(long microseconds)
    {
        Interlocked.Increment(ref _counts[Index(Math.Max(0, microseconds))]);
        Interlocked.Increment(ref _total);
    }

    public void Reset()
    {
        Array.Clear(_counts);
        Interlocked.Exchange(ref _total, 0);
    }

    /// <summary>The latency in milliseconds under which <paramref name="percent"/> of the records fall; null without records.</summary>
    public double? PercentileMs(double percent)
    {
        var total = Count;
        if (total == 0)
        {
            return null;
        }
        var rank = (long)Math.Ceiling(total * percent / 100.0);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return UpperBound(i) / 1000.0;
            }
        }
        return UpperBound(_counts.Length - 1) / 1000.0;
    }

    private static int Index(long value)
    {
        if (value < Linear)
        {
            return (int)value;
        }
        // Keep the top 8 bits: value >> shift is in [128, 256).
        var shift = 63 - BitOperations.LeadingZeroCount((ulong)value) - 7;
        return Linear + (shift - 1) * SubBuckets + (int)((value >> shift) - SubBuckets);
    }

    private static long UpperBound(int index)
    {
        if (index < Linear)
        {
            return index;
        }
        var shift = (index - Linear) / SubBuckets + 1;
        var top = (index - Linear) % SubBuckets + SubBuckets;
        return ((long)(top + 1) << shift) - 1;
    }
}
