using System.Collections.Concurrent;
using CollabHub.Client;
using CollabHub.Protocol;

namespace CollabHub.Tests.Infrastructure;

internal static class TestClients
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static async Task<CollabClient> ConnectAsync(Uri hubUrl, string name)
    {
        var client = new CollabClient(new CollabClientOptions { Url = hubUrl, Name = name });
        await client.StartAsync().WaitAsync(Timeout);
        return client;
    }

    /// <summary>Syncs from 0 page by page: the room as the store has it (latest entry per key, every message).</summary>
    public static async Task<(long Seq, Dictionary<string, Entry> Entries, List<Message> Messages)> SyncAllAsync(this CollabClient client, string roomId)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var messages = new List<Message>();
        var since = 0L;
        SyncResult page;
        do
        {
            page = await client.SyncAsync(roomId, since).Within();
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

    public EventLog(CollabClient client)
    {
        client.Changed += (room, entry) => Add("changed", room, entry);
        client.Posted += (room, message) => Add("posted", room, message);
        client.Signaled += (room, signal) => Add("signaled", room, signal);
        client.PresenceChanged += (room, presence) => Add("presence", room, presence);
    }

    public IReadOnlyList<(string Kind, string RoomId, object Payload)> All => [.. _events];

    public IEnumerable<Entry> Changes(string roomId) => All.Where(e => e.Kind == "changed" && e.RoomId == roomId).Select(e => (Entry)e.Payload);

    public IEnumerable<Message> Posts(string roomId) => All.Where(e => e.Kind == "posted" && e.RoomId == roomId).Select(e => (Message)e.Payload);

    public IEnumerable<SignalEvent> Signals(string roomId) => All.Where(e => e.Kind == "signaled" && e.RoomId == roomId).Select(e => (SignalEvent)e.Payload);

    public IEnumerable<IReadOnlyList<PresenceEntry>> Presence(string roomId) =>
        All.Where(e => e.Kind == "presence" && e.RoomId == roomId).Select(e => (IReadOnlyList<PresenceEntry>)e.Payload);

    /// <summary>Waits until <paramref name="condition"/> holds over the events received, or fails after the timeout.</summary>
    public async Task WaitUntilAsync(Func<EventLog, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestClients.Timeout;
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
