using System.Collections.Concurrent;
using System.Text.Json;
using CollabHub.Client;
using CollabHub.Client.Internal;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace CollabHub.Tests.ClientSdk;

/// <summary>
/// A <see cref="CollabRoom"/>'s client, faked: settings, and a record of what the room reported. Writes are not
/// supported; the room's replica logic is driven directly.
/// </summary>
internal sealed class FakeRoomOwner : IRoomOwner
{
    public Notifier Notifier { get; } = new(NullLogger.Instance);

    public Microsoft.Extensions.Logging.ILogger Logger => NullLogger.Instance;

    public int MaxMessages { get; init; } = 1000;

    public int? SyncPageSize { get; init; }

    public TimeSpan AnsweredSeqGrace { get; init; } = TimeSpan.Zero;

    public TimeSpan RetryDelay(int attempt) => TimeSpan.Zero;

    public ConcurrentQueue<string> Reports { get; } = new();

    public CollabRoom NewRoom(string roomId = "room") => new(this, roomId);

    public void RoomJoined(CollabRoom room, IRoomChannel channel) => Reports.Enqueue($"joined {channel}");

    public void RoomRefused(CollabRoom room, CollabHubException error) => Reports.Enqueue($"refused {error.Code}");

    public void ChannelFaulted(CollabRoom room, IRoomChannel channel, Exception error) => Reports.Enqueue($"faulted {channel}: {error.Message}");

    public void OnChanged(CollabRoom room, EntryChange change)
    {
    }

    public void OnPosted(CollabRoom room, Message message)
    {
    }

    public void OnPresenceChanged(CollabRoom room, IReadOnlyList<PresenceEntry> presence)
    {
    }

    public void OnSignaled(CollabRoom room, SignalEvent signal)
    {
    }

    public Task<WriteResult> SetAsync(CollabRoom room, string key, JsonElement value, WriteOptions? options, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<WriteResult> DeleteAsync(CollabRoom room, string key, WriteOptions? options, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<PostResult> PostAsync(CollabRoom room, JsonElement body, string? mutationId, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<BatchResult> BatchAsync(CollabRoom room, IReadOnlyList<BatchOp> ops, string? mutationId, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<bool> SignalAsync(CollabRoom room, JsonElement payload, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task LeaveAsync(CollabRoom room, CancellationToken cancellationToken) => throw new NotSupportedException();
}

/// <summary>
/// One fake connection: every Join and Sync the room makes is recorded and waits until the test answers it. An answer
/// is given on a pool thread, where the room's continuation runs inline, so when <see cref="Call{T}.AnswerAsync"/>
/// completes, the room has applied the answer (and made its next call, if any).
/// </summary>
internal sealed class FakeChannel(string name) : IRoomChannel
{
    private readonly ConcurrentQueue<ICall> _calls = new();
    private readonly SemaphoreSlim _arrived = new(0);

    public int CallCount { get; private set; }

    public Task<JoinResult> JoinAsync(string roomId, long? sinceSeq) => Record(new Call<JoinResult>("Join", sinceSeq));

    public Task<SyncResult> SyncAsync(string roomId, long sinceSeq, int? limit) => Record(new Call<SyncResult>("Sync", sinceSeq));

    /// <summary>The room's next call, waited for with the test timeout.</summary>
    public async Task<Call<T>> NextAsync<T>()
    {
        if (!await _arrived.WaitAsync(TestClients.Timeout))
        {
            throw new TimeoutException($"{name}: the room made no {typeof(T).Name} call");
        }
        _calls.TryDequeue(out var call);
        return call as Call<T> ?? throw new InvalidOperationException($"{name}: expected a {typeof(T).Name} call, got {call}");
    }

    /// <summary>Asserts the room makes no call within <paramref name="wait"/>.</summary>
    public async Task AssertNoCallAsync(TimeSpan wait)
    {
        if (await _arrived.WaitAsync(wait))
        {
            _calls.TryPeek(out var call);
            Assert.Fail($"{name}: the room made an unexpected call: {call}");
        }
    }

    private Task<T> Record<T>(Call<T> call)
    {
        CallCount++;
        _calls.Enqueue(call);
        _arrived.Release();
        return call.Task;
    }

    public override string ToString() => name;

    internal interface ICall;

    internal sealed class Call<T>(string method, long? since) : ICall
    {
        private readonly TaskCompletionSource<T> _answer = new();

        public string Method => method;

        public long? Since => since;

        public Task<T> Task => _answer.Task;

        public Task AnswerAsync(T result) => System.Threading.Tasks.Task.Run(() => _answer.SetResult(result)).WaitAsync(TestClients.Timeout);

        public Task FailAsync(Exception error) => System.Threading.Tasks.Task.Run(() => _answer.SetException(error)).WaitAsync(TestClients.Timeout);

        public override string ToString() => $"{method}(sinceSeq: {since?.ToString() ?? "none"})";
    }
}

/// <summary>Builds protocol objects for replica tests.</summary>
internal static class Wire
{
    private static readonly DateTimeOffset At = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static Entry Set(string key, long version, object? value = null) =>
        new(key, JsonSerializer.SerializeToElement(value ?? $"{key}@{version}"), version, false, "ada", At);

    public static Entry Tombstone(string key, long version) => new(key, null, version, true, "ada", At);

    public static Message Msg(long seq) => new(seq, $"m{seq}", JsonSerializer.SerializeToElement($"message {seq}"), "ada", At);

    public static JoinResult Join(long seq, bool full, IEnumerable<object>? items = null, bool hasMore = false, params string[] present) =>
        new("room", seq, full, [.. (items ?? []).OfType<Entry>()], [.. (items ?? []).OfType<Message>()],
            [.. present.Select(p => new PresenceEntry(p, p, 1))], hasMore, PresenceCount: present.Length);

    public static SyncResult Sync(long seq, IEnumerable<object>? items = null, bool hasMore = false, bool full = false) =>
        new("room", seq, [.. (items ?? []).OfType<Entry>()], [.. (items ?? []).OfType<Message>()], hasMore, full);
}

/// <summary>Records a room's events for assertions.</summary>
internal sealed class RoomEvents
{
    private readonly ConcurrentQueue<object> _events = new();

    public RoomEvents(CollabRoom room)
    {
        room.Changed += change => _events.Enqueue(change);
        room.Posted += message => _events.Enqueue(message);
        room.Applied += range => _events.Enqueue(range);
        room.PresenceChanged += presence => _events.Enqueue(presence);
    }

    public IReadOnlyList<EntryChange> Changes => [.. _events.OfType<EntryChange>()];

    public IReadOnlyList<Message> Posts => [.. _events.OfType<Message>()];

    public IReadOnlyList<AppliedRange> Ranges => [.. _events.OfType<AppliedRange>()];

    public IReadOnlyList<IReadOnlyList<PresenceEntry>> Presence => [.. _events.OfType<IReadOnlyList<PresenceEntry>>()];

    /// <summary>Asserts the applied ranges join up: each one starts right after the previous one, except full snapshots.</summary>
    public void AssertGaplessAndOnce()
    {
        long? last = null;
        foreach (var range in Ranges)
        {
            if (!range.Full)
            {
                Assert.True(range.From <= range.To, $"empty range {range}");
                Assert.True(last is not { } previous || range.From == previous + 1, $"range {range} does not follow {last}: {string.Join(", ", Ranges)}");
            }
            last = range.To;
        }
    }
}
