using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Hubs;
using CollabHub.Server.Store;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Rooms;

/// <summary>
/// What the hub's methods do, once their input is valid: membership, presence, reads, and writes through the
/// group-commit writer (whose observer broadcasts them after commit).
/// </summary>
internal sealed class RoomService(
    IHubContext<RoomsHub> hub,
    IRoomStore store,
    GroupCommitWriter writer,
    IPresenceTracker presence,
    RoomBroadcaster broadcaster,
    IOptions<CollabHubOptions> options)
{
    private readonly LimitsOptions _limits = options.Value.Limits;

    public async Task<JoinResult> JoinAsync(ConnectionRooms connection, string roomId, long? sinceSeq, CancellationToken cancellationToken)
    {
        if (!connection.TryAdd(roomId, _limits.MaxRoomsPerConnection, out var alreadyIn))
        {
            throw HubErrors.Create(ErrorCodes.TooManyRooms, $"a connection may be in at most {_limits.MaxRoomsPerConnection} rooms; leave one first");
        }
        try
        {
            // Into the group before reading, so no change committed after the read is missed; one committed before
            // it may arrive as an event too, which the seq makes harmless.
            await hub.Groups.AddToGroupAsync(connection.ConnectionId, roomId, cancellationToken);
            var (members, changed) = await presence.AddAsync(roomId, connection.ConnectionId, connection.UserId, connection.Name);
            if (changed)
            {
                broadcaster.PresenceChanged(roomId, members);
            }

            var page = await store.ReadAsync(Read(roomId, sinceSeq, _limits.MaxPageItems), cancellationToken);
            connection.SetSnapshotCursor(roomId, page.Full && page.HasMore ? new SnapshotCursor(page.Seq, page.SnapshotSeq) : null);
            return new JoinResult(roomId, page.Seq, page.Full, page.Entries, page.Messages, members, page.HasMore);
        }
        catch when (!alreadyIn)
        {
            // A join that fails leaves no trace: not a member, not present, no events.
            await LeaveAsync(connection, roomId);
            throw;
        }
    }

    public async Task LeaveAsync(ConnectionRooms connection, string roomId)
    {
        if (!connection.Remove(roomId))
        {
            return;
        }
        await hub.Groups.RemoveFromGroupAsync(connection.ConnectionId, roomId);
        await RemovePresenceAsync(connection, roomId);
    }

    /// <summary>Called when the connection is gone: SignalR drops its groups itself; presence is ours to fix.</summary>
    public async Task DisconnectedAsync(ConnectionRooms connection)
    {
        foreach (var roomId in connection.RemoveAll())
        {
            await RemovePresenceAsync(connection, roomId);
        }
    }

    public async Task<SyncResult> SyncAsync(ConnectionRooms connection, string roomId, long sinceSeq, int limit, CancellationToken cancellationToken)
    {
        var snapshotSeq = connection.SnapshotContinuedAt(roomId, sinceSeq);
        var page = await store.ReadAsync(Read(roomId, sinceSeq, limit, snapshotSeq), cancellationToken);
        if (page.Full || snapshotSeq is not null)
        {
            var continuedAt = page.Full ? page.SnapshotSeq : snapshotSeq!.Value;
            connection.SetSnapshotCursor(roomId, page.HasMore ? new SnapshotCursor(page.Seq, continuedAt) : null);
        }
        return new SyncResult(roomId, page.Seq, page.Entries, page.Messages, page.HasMore, page.Full);
    }

    private RoomRead Read(string roomId, long? sinceSeq, int limit, long? snapshotSeq = null) =>
        new(roomId, sinceSeq, limit, _limits.MaxPageBytes, _limits.JoinMessages, snapshotSeq);

    public async Task<WriteResult> WriteAsync(WriteCommand command) => (await writer.WriteAsync(command)).Write!;

    public async Task<PostResult> PostAsync(WriteCommand command) => (await writer.WriteAsync(command)).Post!;

    public Task SignalAsync(ConnectionRooms connection, string roomId, JsonElement payload) =>
        broadcaster.SignalAsync(roomId, connection.ConnectionId, new SignalEvent(connection.UserId, connection.Name, connection.ConnectionId, payload));

    private async Task RemovePresenceAsync(ConnectionRooms connection, string roomId)
    {
        if (await presence.RemoveAsync(roomId, connection.ConnectionId) is { } members)
        {
            broadcaster.PresenceChanged(roomId, members);
        }
    }
}
