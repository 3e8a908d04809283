using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Bench.BareHub;

/// <summary>
/// The bare SignalR system: CollabHub's method names and request and answer shapes with nothing behind them (no
/// store, no validation, no presence, no limits), so that the difference to CollabHub is what the store and the
/// contract cost. A per-room counter in memory stands in for the seq. Like CollabHub it starts the room broadcast,
/// then answers without waiting for it.
/// </summary>
internal sealed class BareHub(RoomCounters seqs) : Hub
{
    public async Task<BareJoinResult> Join(BareJoinRequest request)
    {
        await Groups.AddToGroupAsync(Context.ConnectionId, request.RoomId);
        return new BareJoinResult(request.RoomId, seqs.Current(request.RoomId), true, [], [], [], false, "editor");
    }

    public Task Leave(BareJoinRequest request) => Groups.RemoveFromGroupAsync(Context.ConnectionId, request.RoomId);

    public BareWriteResult Set(BareSetRequest request)
    {
        var seq = seqs.Next(request.RoomId);
        var by = Context.GetHttpContext()?.Request.Query["name"].ToString() ?? Context.ConnectionId;
        var entry = new BareEntry(request.Key, request.Value, seq, false, by, DateTimeOffset.UtcNow);
        var send = Clients.Group(request.RoomId).SendAsync("Changed", request.RoomId, entry);
        if (!send.IsCompletedSuccessfully)
        {
            // A failed send is the client's loss, as in CollabHub's broadcaster; nothing waits for it.
            send.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }
        return new BareWriteResult(true, false, false, seq, entry);
    }
}

internal sealed record BareJoinRequest(string RoomId, long? SinceSeq);

internal sealed record BareSetRequest(string RoomId, string Key, JsonElement Value);

internal sealed record BareEntry(string Key, JsonElement Value, long Version, bool Deleted, string By, DateTimeOffset At);

internal sealed record BareJoinResult(string RoomId, long Seq, bool Full, object[] Entries, object[] Messages, object[] Presence, bool HasMore, string Role);

internal sealed record BareWriteResult(bool Applied, bool Duplicate, bool Conflict, long Seq, BareEntry Entry);

/// <summary>One counter per room, in memory.</summary>
internal sealed class RoomCounters
{
    private readonly ConcurrentDictionary<string, StrongBox<long>> _rooms = new(StringComparer.Ordinal);

    public long Current(string roomId) => _rooms.TryGetValue(roomId, out var seq) ? Volatile.Read(ref seq.Value) : 0;

    public long Next(string roomId) => Interlocked.Increment(ref _rooms.GetOrAdd(roomId, static _ => new StrongBox<long>()).Value);
}
