using System.Collections.Concurrent;
using CollabHub.Client;
using CollabHub.Protocol;

namespace CollabHub.Tests.Infrastructure;

internal static class TestClients
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A started <see cref="CollabClient"/> (the SDK: reconnect, replicas, write queue) connected as
    /// <paramref name="name"/>, on <paramref name="transport"/> (null: the defaults, which negotiate).
    /// </summary>
    public static async Task<CollabClient> ConnectAsync(Uri hubUrl, string name, ClientTransport? transport = null)
    {
        var client = new CollabClient(Options(hubUrl, name, transport));
        try
        {
            await client.StartAsync().WaitAsync(Timeout);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
        return client;
    }

    /// <summary>
    /// One started <see cref="CollabConnection"/> (the wire contract as is: no reconnect, no queue) as
    /// <paramref name="name"/>, on <paramref name="transport"/> (null: the defaults, which negotiate).
    /// </summary>
    public static async Task<CollabConnection> OpenConnectionAsync(Uri hubUrl, string name, ClientTransport? transport = null)
    {
        var connection = new CollabConnection(Options(hubUrl, name, transport));
        try
        {
            await connection.StartAsync().WaitAsync(Timeout);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        return connection;
    }

    private static CollabClientOptions Options(Uri hubUrl, string name, ClientTransport? transport)
    {
        var options = new CollabClientOptions { Url = hubUrl, Name = name };
        transport?.Apply(options);
        return options;
    }

    /// <summary>Syncs from 0 page by page: the room as the store has it (latest entry per key, every message).</summary>
    public static Task<(long Seq, Dictionary<string, Entry> Entries, List<Message> Messages)> SyncAllAsync(this CollabConnection connection, string roomId) =>
        SyncAllAsync((since, ct) => connection.SyncAsync(roomId, since, cancellationToken: ct));

    /// <summary>Syncs from 0 page by page through a client's current connection, without touching its replica.</summary>
    public static Task<(long Seq, Dictionary<string, Entry> Entries, List<Message> Messages)> SyncAllAsync(this CollabClient client, string roomId) =>
        SyncAllAsync((since, ct) => client.SyncAsync(roomId, since, cancellationToken: ct));

    private static async Task<(long Seq, Dictionary<string, Entry> Entries, List<Message> Messages)> SyncAllAsync(Func<long, CancellationToken, Task<SyncResult>> sync)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var messages = new List<Message>();
        var since = 0L;
        SyncResult page;
        do
        {
            page = await sync(since, CancellationToken.None).Within();
            foreach (var entry in page.Entries)
            {
                entries[entry.Key] = entry;
            }
            messages.AddRange(page.Messages);
            since = page.Seq;
        }
        while (page.HasMore);
        return (since, entries, messages);
    }

    public static string NewRoom(string prefix = "room") => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>Every await in a test has a timeout, so a hang fails fast.</summary>
    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Timeout);

    public static Task Within(this Task task) => task.WaitAsync(Timeout);
}

/// <summary>Records the events a client receives, and waits for them with a timeout.</summary>
internal sealed class EventLog
{
    private readonly ConcurrentQueue<(string Kind, string RoomId, object Payload)> _events = new();
    private readonly SemaphoreSlim _arrived = new(0);

    /// <summary>
    /// Records a <see cref="CollabClient"/>'s events: the confirmed entries its rooms' views show (changes from the server
    /// that leave the key present), the messages, signals and presence lists.
    /// </summary>
    public EventLog(CollabClient client)
    {
        client.Changed += (room, change) =>
        {
            if (change is { Origin: not (ChangeOrigin.Local or ChangeOrigin.Rollback), Entry: { } entry })
            {
                Add("changed", room.RoomId, entry);
            }
        };
        client.Posted += (room, message) => Add("posted", room.RoomId, message);
        client.Signaled += (room, signal) => Add("signaled", room.RoomId, signal);
        client.PresenceChanged += (room, presence) => Add("presence", room.RoomId, presence);
    }

    public EventLog(CollabConnection client)
    {
        client.Changed += (room, entry) => Add("changed", room, entry);
        client.Posted += (room, message) => Add("posted", room, message);
        client.Signaled += (room, signal) => Add("signaled", room, signal);
        // The list as a member that joined before the others would have it: the deltas applied from nothing.
        var lists = new Dictionary<string, SortedDictionary<string, PresenceEntry>>(StringComparer.Ordinal);
        client.PresenceDelta += (room, delta) =>
        {
            Add("delta", room, delta);
            lock (lists)
            {
                var list = lists.TryGetValue(room, out var known) ? known : lists[room] = new(StringComparer.Ordinal);
                if (delta.Full)
                {
                    list.Clear();
                }
                foreach (var userId in delta.Removed ?? [])
                {
                    list.Remove(userId);
                }
                foreach (var entry in delta.Upserts ?? [])
                {
                    list[entry.UserId] = entry;
                }
                Add("presence", room, (IReadOnlyList<PresenceEntry>)[.. list.Values]);
            }
        };
    }

    public IReadOnlyList<(string Kind, string RoomId, object Payload)> All => [.. _events];

    public IEnumerable<Entry> Changes(string roomId) => All.Where(e => e.Kind == "changed" && e.RoomId == roomId).Select(e => (Entry)e.Payload);

    public IEnumerable<Message> Posts(string roomId) => All.Where(e => e.Kind == "posted" && e.RoomId == roomId).Select(e => (Message)e.Payload);

    public IEnumerable<SignalEvent> Signals(string roomId) => All.Where(e => e.Kind == "signaled" && e.RoomId == roomId).Select(e => (SignalEvent)e.Payload);

    public IEnumerable<PresenceDelta> PresenceDeltas(string roomId) => All.Where(e => e.Kind == "delta" && e.RoomId == roomId).Select(e => (PresenceDelta)e.Payload);

    public IEnumerable<IReadOnlyList<PresenceEntry>> Presence(string roomId) =>
        All.Where(e => e.Kind == "presence" && e.RoomId == roomId).Select(e => (IReadOnlyList<PresenceEntry>)e.Payload);

    /// <summary>Waits until <paramref name="condition"/> holds over the events received, or fails after the timeout (the test timeout unless given).</summary>
    public async Task WaitUntilAsync(Func<EventLog, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestClients.Timeout);
        while (!condition(this))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"Timed out waiting for {what}; received: {string.Join(", ", All.Select(e => $"{e.Kind}@{e.RoomId}"))}");
            }
            await _arrived.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    private void Add(string kind, string roomId, object payload)
    {
        _events.Enqueue((kind, roomId, payload));
        _arrived.Release();
    }
}
