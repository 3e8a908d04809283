using System.Collections.Concurrent;
using System.Diagnostics;
using CollabHub.Bench.Measurement;

namespace CollabHub.Bench.Driver;

/// <summary>
/// Counts the change events listeners receive that were sent in the current window, and their end-to-end latency
/// (the writer's send to the listener's receipt). Shared by all listeners of a run; lock-free.
/// </summary>
internal sealed class DeliveryCounter
{
    private readonly ConcurrentDictionary<long, Pending> _pending = new();
    private long _windowStart = long.MaxValue;
    private long _received;
    private long _lastReceipt;

    public LatencyHistogram Latency { get; } = new();

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Starts counting events sent from now on; older ones are ignored.</summary>
    public void StartWindow()
    {
        Latency.Reset();
        Interlocked.Exchange(ref _received, 0);
        Interlocked.Exchange(ref _windowStart, Stopwatch.GetTimestamp());
        Interlocked.Exchange(ref _lastReceipt, Stopwatch.GetTimestamp());
    }

    public void OnChanged(ChangedEvent change)
    {
        if (change.SentTimestamp < Interlocked.Read(ref _windowStart))
        {
            return;
        }
        Latency.Record(BenchValue.MicrosecondsSince(change.SentTimestamp));
        Interlocked.Increment(ref _received);
        Interlocked.Exchange(ref _lastReceipt, Stopwatch.GetTimestamp());
        if (_pending.TryGetValue(change.SentTimestamp, out var pending) && Interlocked.Decrement(ref pending.Remaining) == 0)
        {
            _pending.TryRemove(change.SentTimestamp, out _);
            pending.Done.TrySetResult();
        }
    }

    /// <summary>
    /// A task that completes when <paramref name="listeners"/> events of the write made at <paramref name="sentTimestamp"/>
    /// have arrived: writers use it to bound how many writes are still on their way, so a system that cannot keep up
    /// slows the writer instead of piling up a backlog. Call it before sending.
    /// </summary>
    public Task Expect(long sentTimestamp, int listeners)
    {
        var pending = new Pending { Remaining = listeners };
        _pending[sentTimestamp] = pending;
        return pending.Done.Task;
    }

    /// <summary>Forgets writes whose events will not all come (lost, or late past the writer's patience).</summary>
    public void Forget(long sentTimestamp) => _pending.TryRemove(sentTimestamp, out _);

    private sealed class Pending
    {
        public int Remaining;
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Seconds from the window's start to the last event counted.</summary>
    public double DeliverySeconds => Stopwatch.GetElapsedTime(Interlocked.Read(ref _windowStart), Interlocked.Read(ref _lastReceipt)).TotalSeconds;

    /// <summary>Waits until <paramref name="expected"/> events have arrived, or none came for <paramref name="quiet"/>, or <paramref name="limit"/> passed.</summary>
    public async Task DrainAsync(long expected, TimeSpan quiet, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (Received < expected && clock.Elapsed < limit
               && Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastReceipt)) < quiet)
        {
            await Task.Delay(20);
        }
    }
}
