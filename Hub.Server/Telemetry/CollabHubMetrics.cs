using System.Diagnostics.Metrics;
using CollabHub.Protocol;
using CollabHub.Server.Backplane;
using CollabHub.Server.Store;

namespace CollabHub.Server.Telemetry;

/// <summary>
/// The <c>CollabHub</c> meter and every instrument on it (docs/operations.md lists them with units and tags). The hot
/// paths call the methods here; tags are prebuilt, so a measurement allocates nothing, and an instrument nobody
/// listens to costs a branch.
/// </summary>
internal sealed class CollabHubMetrics
{
    public const string MeterName = "CollabHub";

    private static readonly KeyValuePair<string, object?>[] KindTags =
    [
        default,
        new("kind", "set"),
        new("kind", "delete"),
        new("kind", "post"),
        new("kind", "batch"),
    ];

    private static readonly KeyValuePair<string, object?> Applied = new("outcome", "applied");
    private static readonly KeyValuePair<string, object?> Duplicate = new("outcome", "duplicate");
    private static readonly KeyValuePair<string, object?> Conflict = new("outcome", "conflict");
    private static readonly KeyValuePair<string, object?> Refused = new("outcome", "refused");
    private static readonly KeyValuePair<string, object?> Failed = new("outcome", "failed");

    private readonly Counter<long> _writes;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _commitDuration;
    private readonly Counter<long> _eventsSent;
    private readonly Counter<long> _syncRequests;
    private readonly Counter<long> _syncEntries;
    private readonly Counter<long> _rateLimited;
    private readonly Counter<long> _published;
    private readonly Counter<long> _received;
    private readonly Counter<long> _publishFailures;
    private int _connections;

    public CollabHubMetrics(IMeterFactory meters, LocalRooms rooms, IServiceProvider services)
    {
        var meter = meters.Create(MeterName);
        Rooms = rooms;
        meter.CreateObservableUpDownCounter("collabhub.connections", () => Volatile.Read(ref _connections), "{connection}",
            "Hub connections open on this instance.");
        meter.CreateObservableUpDownCounter("collabhub.rooms.active", () => rooms.Count, "{room}",
            "Rooms with at least one member connected to this instance.");
        _writes = meter.CreateCounter<long>("collabhub.writes", "{write}", "Writes (Set, Delete, Post, Batch) by kind and outcome.");
        _batchSize = meter.CreateHistogram<int>("collabhub.commit.batch.size", "{write}", "Writes committed together in one transaction.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
        _commitDuration = meter.CreateHistogram<double>("collabhub.commit.duration", "s", "How long one group commit takes, its transaction included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
        _eventsSent = meter.CreateCounter<long>("collabhub.events.sent", "{event}", "Events written to this instance's connections (the fan-out).");
        _syncRequests = meter.CreateCounter<long>("collabhub.sync.requests", "{request}", "Sync calls (gap repair and paging).");
        _syncEntries = meter.CreateCounter<long>("collabhub.sync.entries", "{item}", "Entries and messages returned by Sync calls.");
        _rateLimited = meter.CreateCounter<long>("collabhub.rate_limited", "{call}", "Hub calls refused with rate_limited, by limit.");
        _published = meter.CreateCounter<long>("collabhub.backplane.published", "{message}", "Messages published to the Redis backplane.");
        _received = meter.CreateCounter<long>("collabhub.backplane.received", "{message}", "Messages from other instances received on the Redis backplane.");
        _publishFailures = meter.CreateCounter<long>("collabhub.backplane.publish_failures", "{message}", "Publishes to the Redis backplane that failed or were dropped.");
        // Resolved when observed: only a server configured for Redis has a connection to report.
        meter.CreateObservableGauge("collabhub.redis.connected", () => services.GetService<RedisConnection>() is { } redis
            ? [new Measurement<int>(redis.IsConnected ? 1 : 0)]
            : Array.Empty<Measurement<int>>(), "1", "1 while Redis is connected (commands and subscriptions), else 0; absent without Redis.");
    }

    /// <summary>Local membership of rooms, behind <c>collabhub.rooms.active</c>.</summary>
    public LocalRooms Rooms { get; }

    /// <summary><c>collabhub.writes</c>, for the status page's listener.</summary>
    public Instrument Writes => _writes;

    /// <summary><c>collabhub.events.sent</c>, for the status page's listener.</summary>
    public Instrument EventsSent => _eventsSent;

    /// <summary>Connections open on this instance now.</summary>
    public int Connections => Volatile.Read(ref _connections);

    public void ConnectionOpened() => Interlocked.Increment(ref _connections);

    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);

    /// <summary>A write's end: what the store made of it.</summary>
    public void WriteCompleted(WriteKind kind, in WriteOutcome outcome)
    {
        if (_writes.Enabled)
        {
            _writes.Add(1, KindTags[(int)kind], OutcomeOf(outcome));
        }
    }

    /// <summary>A write that failed with an error (nothing applied, or an unknown outcome).</summary>
    public void WriteFailed(WriteKind kind)
    {
        if (_writes.Enabled)
        {
            _writes.Add(1, KindTags[(int)kind], Failed);
        }
    }

    public void Committed(int batchSize, TimeSpan duration)
    {
        _batchSize.Record(batchSize);
        _commitDuration.Record(duration.TotalSeconds);
    }

    public void EventSent() => _eventsSent.Add(1);

    public void SyncServed(int items)
    {
        _syncRequests.Add(1);
        _syncEntries.Add(items);
    }

    /// <summary>A refused call; <paramref name="limit"/> is one of a few fixed names (writes, signals, reads, read_bytes, rooms).</summary>
    public void RateLimited(string limit) => _rateLimited.Add(1, new KeyValuePair<string, object?>("limit", limit));

    public void BackplanePublished() => _published.Add(1);

    public void BackplaneReceived() => _received.Add(1);

    public void BackplanePublishFailed() => _publishFailures.Add(1);

    private static KeyValuePair<string, object?> OutcomeOf(in WriteOutcome outcome) => outcome switch
    {
        { Refusal: not null } => Refused,
        { Write: { } write } => write.Duplicate ? Duplicate : write.Conflict ? Conflict : Applied,
        { Post: { } post } => post.Duplicate ? Duplicate : Applied,
        { Batch: { } batch } => batch.Duplicate ? Duplicate : batch.Applied ? Applied : Conflict,
        _ => Failed,
    };
}
