using System.Diagnostics.Metrics;
using CollabHub.Server.Telemetry;

namespace CollabHub.Server.Status;

/// <summary>
/// Writes per second and events per second over the last <see cref="Window"/>, for the status page: a listener on
/// this server's own <c>collabhub.writes</c> and <c>collabhub.events.sent</c> adds them up, and every
/// <see cref="Interval"/> the totals become one sample in a ring.
/// </summary>
internal sealed class StatusSampler : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private readonly MeterListener _listener = new();
    private readonly TimeProvider _clock;
    private readonly RateSample[] _ring = new RateSample[(int)(Window / Interval)];
    private long _writes;
    private long _events;
    private int _next;
    private int _count;

    public StatusSampler(CollabHubMetrics metrics, TimeProvider clock)
    {
        _clock = clock;
        // This server's instruments only: tests run several servers in one process, each with its own meter.
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument, metrics.Writes) || ReferenceEquals(instrument, metrics.EventsSent))
            {
                listener.EnableMeasurementEvents(instrument, instrument == metrics.Writes ? Totals.Writes : Totals.Events);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, state) =>
        {
            if (state == Totals.Writes)
            {
                Interlocked.Add(ref _writes, value);
            }
            else
            {
                Interlocked.Add(ref _events, value);
            }
        });
        _listener.Start();
    }

    /// <summary>The samples, oldest first.</summary>
    public RateSample[] Samples()
    {
        lock (_ring)
        {
            var samples = new RateSample[_count];
            for (var i = 0; i < _count; i++)
            {
                samples[i] = _ring[(_next - _count + i + _ring.Length) % _ring.Length];
            }
            return samples;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, _clock);
        var last = (Writes: 0L, Events: 0L, At: _clock.GetTimestamp());
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = (Writes: Interlocked.Read(ref _writes), Events: Interlocked.Read(ref _events), At: _clock.GetTimestamp());
                var seconds = _clock.GetElapsedTime(last.At, now.At).TotalSeconds;
                Add(new RateSample(_clock.GetUtcNow(), (now.Writes - last.Writes) / seconds, (now.Events - last.Events) / seconds));
                last = now;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private void Add(RateSample sample)
    {
        lock (_ring)
        {
            _ring[_next] = sample;
            _next = (_next + 1) % _ring.Length;
            _count = Math.Min(_count + 1, _ring.Length);
        }
    }

    public override void Dispose()
    {
        _listener.Dispose();
        base.Dispose();
    }

    // Boxed once: the listener's state tells the two instruments apart.
    private static class Totals
    {
        public static readonly object Writes = new();
        public static readonly object Events = new();
    }
}

/// <summary>One point of the status page's chart.</summary>
internal readonly record struct RateSample(DateTimeOffset At, double WritesPerSecond, double EventsPerSecond);
