using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Hubs;
using CollabHub.Server.Security;
using CollabHub.Server.Store;
using CollabHub.Server.Telemetry;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Rooms;

/// <summary>
/// What the hub's methods do, once their input is valid: connections, membership and access, presence, reads, and
/// writes through the group-commit writer (whose observer broadcasts them after commit).
/// </summary>
internal sealed partial class RoomService
{
    private readonly IHubContext<RoomsHub> hub;
    private readonly IRoomStore store;
    private readonly GroupCommitWriter writer;
    private readonly IPresenceTracker presence;
    private readonly RoomBroadcaster broadcaster;
    private readonly RoomAccessService access;
    private readonly ConnectionRegistry connections;
    private readonly CollabHubMetrics metrics;
    private readonly ILogger<RoomService> _logger;
    private readonly LimitsOptions _limits;
    private readonly int _maxListed;

    public RoomService(
        IHubContext<RoomsHub> hub,
        IRoomStore store,
        GroupCommitWriter writer,
        IPresenceTracker presence,
        RoomBroadcaster broadcaster,
        RoomAccessService access,
        ConnectionRegistry connections,
        IOptions<CollabHubOptions> options,
        ILogger<RoomService> logger,
        CollabHubMetrics metrics)
    {
        this.metrics = metrics;
        this.hub = hub;
        this.store = store;
        this.writer = writer;
        this.presence = presence;
        this.broadcaster = broadcaster;
        this.access = access;
        this.connections = connections;
        _logger = logger;
        _limits = options.Value.Limits;
        _maxListed = options.Value.Presence.MaxListed;
        access.Changed += OnAccessChanged;
    }

    /// <summary>Registers a new connection; refused when its user already has the most connections allowed here.</summary>
    public void Connected(ConnectionRooms connection)
    {
        if (!connections.TryAdd(connection, _limits.MaxConnectionsPerUser))
        {
            LogTooManyConnections(connection.UserId, _limits.MaxConnectionsPerUser);
            throw new CollabException(ErrorCodes.TooManyConnections,
                $"user '{connection.UserId}' already has {_limits.MaxConnectionsPerUser} connections to this server; close one first");
        }
        metrics.ConnectionOpened();
    }

    public async Task<JoinResult> JoinAsync(ConnectionRooms connection, string roomId, long? sinceSeq, CancellationToken cancellationToken)
    {
        if (!connection.CanJoin(roomId, _limits.MaxRoomsPerConnection))
        {
            throw TooManyRooms(connection);
        }
        var role = connection.RoleIn(roomId) ?? await access.RoleForJoinAsync(roomId, connection.UserId, cancellationToken);
        if (role == RoomRole.None)
        {
            throw new CollabException(ErrorCodes.Forbidden, $"room '{roomId}' is private; ask one of its owners for access");
        }
        if (!connection.TryAdd(roomId, role, _limits.MaxRoomsPerConnection, out var alreadyIn))
        {
            throw TooManyRooms(connection);
        }
        if (!alreadyIn)
        {
            metrics.Rooms.Joined(roomId);
        }
        try
        {
            // Into the group before reading, so no change committed after the read is missed; one committed before
            // it may arrive as an event too, which the seq makes harmless.
            await hub.Groups.AddToGroupAsync(connection.ConnectionId, roomId, cancellationToken);
            // Presence work that does not grow with the room: count this connection (the room hears of it in a
            // coalesced delta), and list at most MaxListed users for the answer. Listed after the group add, so every
            // later change reaches the joiner as a delta.
            await presence.AddAsync(roomId, connection.ConnectionId, connection.UserId, connection.Name);
            var members = await presence.ListAsync(roomId, _maxListed);

            var page = await store.ReadAsync(Read(roomId, sinceSeq, _limits.MaxPageItems), cancellationToken);
            connection.SetSnapshotCursor(roomId, page.Full && page.HasMore ? new SnapshotCursor(page.Seq, page.SnapshotSeq) : null);
            return new JoinResult(roomId, page.Seq, page.Full, page.Entries, page.Messages, members.Entries, page.HasMore,
                RoomRoles.ToWire(role), members.Count);
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
        metrics.Rooms.Left(roomId);
        await hub.Groups.RemoveFromGroupAsync(connection.ConnectionId, roomId);
        await presence.RemoveAsync(roomId, connection.ConnectionId);
    }

    /// <summary>Called when the connection is gone: SignalR drops its groups itself; presence is ours to fix.</summary>
    public async Task DisconnectedAsync(ConnectionRooms connection)
    {
        connections.Remove(connection);
        metrics.ConnectionClosed();
        foreach (var roomId in connection.RemoveAll())
        {
            metrics.Rooms.Left(roomId);
            await presence.RemoveAsync(roomId, connection.ConnectionId);
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
        metrics.SyncServed(page.Entries.Count + page.Messages.Count);
        return new SyncResult(roomId, page.Seq, page.Entries, page.Messages, page.HasMore, page.Full);
    }

    private RoomRead Read(string roomId, long? sinceSeq, int limit, long? snapshotSeq = null) =>
        new(roomId, sinceSeq, limit, _limits.MaxPageBytes, _limits.JoinMessages, snapshotSeq);

    /// <summary>Queues the write for commit at once, before any await (so the connection's writes keep their order).</summary>
    public async Task<WriteResult> WriteAsync(ConnectionRooms connection, WriteCommand command) =>
        Accepted(await Queue(connection, command)).Write!;

    /// <inheritdoc cref="WriteAsync"/>
    public async Task<PostResult> PostAsync(ConnectionRooms connection, WriteCommand command) =>
        Accepted(await Queue(connection, command)).Post!;

    /// <inheritdoc cref="WriteAsync"/>
    public async Task<BatchResult> BatchAsync(ConnectionRooms connection, WriteCommand command) =>
        Accepted(await Queue(connection, command)).Batch!;

    private Task<WriteOutcome> Queue(ConnectionRooms connection, WriteCommand command)
    {
        var commit = writer.WriteAsync(command);
        connection.Calls.WriteQueued(commit);
        return commit;
    }

    public Task GrantAsync(ConnectionRooms connection, string roomId, string userId, RoomRole role, CancellationToken cancellationToken) =>
        access.GrantAsync(roomId, connection.UserId, connection.RoleIn(roomId) ?? RoomRole.None, userId, role, cancellationToken);

    public Task<RoomAccess> GetAccessAsync(ConnectionRooms connection, string roomId, CancellationToken cancellationToken) =>
        access.ListAsync(roomId, connection.RoleIn(roomId) ?? RoomRole.None, cancellationToken);

    /// <summary>Applies a role change to this instance's connections of that user in that room, at once.</summary>
    private void OnAccessChanged(string roomId, string userId, RoomRole role)
    {
        foreach (var connection in connections.OfUser(userId))
        {
            if (connection.RoleIn(roomId) is null)
            {
                continue;
            }
            _ = ApplyAccessChangeAsync(connection, roomId, role);
        }
    }

    private async Task ApplyAccessChangeAsync(ConnectionRooms connection, string roomId, RoomRole role)
    {
        try
        {
            if (role == RoomRole.None)
            {
                await LeaveAsync(connection, roomId);
            }
            else
            {
                connection.SetRole(roomId, role);
            }
            await hub.Clients.Client(connection.ConnectionId).SendAsync(HubEvents.AccessChanged, roomId, new AccessChange(RoomRoles.ToWire(role)));
        }
        catch (Exception ex)
        {
            LogAccessChangeFailed(ex, connection.ConnectionId, roomId);
        }
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Refused a connection of user {UserId}: already {Max} connections here")]
    private partial void LogTooManyConnections(string userId, int max);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "Applying an access change to connection {ConnectionId} in room {RoomId} failed")]
    private partial void LogAccessChangeFailed(Exception exception, string connectionId, string roomId);

    private CollabException TooManyRooms(ConnectionRooms connection)
    {
        LogTooManyRooms(connection.UserId, connection.ConnectionId, _limits.MaxRoomsPerConnection);
        return new CollabException(ErrorCodes.TooManyRooms, $"a connection may be in at most {_limits.MaxRoomsPerConnection} rooms; leave one first");
    }

    private WriteOutcome Accepted(WriteOutcome outcome)
    {
        if (outcome.Refusal is { } refusal)
        {
            LogWriteRefused(refusal.Code, refusal.Detail);
            throw new CollabException(refusal.Code, refusal.Detail);
        }
        return outcome;
    }

    [LoggerMessage(EventId = 2203, Level = LogLevel.Information, Message = "Refused a join of user {UserId} on connection {ConnectionId}: already in {Max} rooms")]
    private partial void LogTooManyRooms(string userId, string connectionId, int max);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Information, Message = "Refused a write ({Code}): {Detail}")]
    private partial void LogWriteRefused(string code, string detail);

    public void Signal(ConnectionRooms connection, string roomId, JsonElement payload) =>
        broadcaster.Signal(roomId, connection.ConnectionId, new SignalEvent(connection.UserId, connection.Name, connection.Tag, payload));
}
