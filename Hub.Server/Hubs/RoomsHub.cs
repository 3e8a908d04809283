using CollabHub.Protocol;
using CollabHub.Server.Rooms;
using CollabHub.Server.Security;
using CollabHub.Server.Store;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Hubs;

/// <summary>
/// The v1 contract at <c>/hubs/collab</c>. Each method validates its request, calls <see cref="RoomService"/>, and
/// returns; the names of methods and events are fixed (docs/protocol.md).
/// </summary>
/// <remarks>
/// SignalR may run several calls of one connection at once; it starts them one after the other, each running
/// synchronously until its first await. Writes (Set, Delete, Batch, Post) are therefore validated and queued for commit
/// before any await, here and in the filters before them, so they commit in the order they were sent; the other
/// calls go through <see cref="ConnectionCallOrder"/>, which runs them after the writes sent before them.
/// </remarks>
internal sealed class RoomsHub(RoomService rooms, RequestValidator validate) : Hub
{
    // In the connection's features rather than Context.Items, which would cost each connection a dictionary.
    private ConnectionRooms Connection => Context.Features.Get<ConnectionRooms>()!;

    public override Task OnConnectedAsync()
    {
        // The endpoint requires an authenticated user, so an identity is always there.
        var identity = UserIdentity.From(Context.User)
            ?? throw new CollabException(ErrorCodes.Forbidden, "the connection has no user identity");
        var connection = new ConnectionRooms(Context.ConnectionId, identity.UserId, identity.Name);
        rooms.Connected(connection);
        Context.Features.Set(connection);
        return Task.CompletedTask;
    }

    public override Task OnDisconnectedAsync(Exception? exception) =>
        Context.Features.Get<ConnectionRooms>() is { } connection ? rooms.DisconnectedAsync(connection) : Task.CompletedTask;

    public Task<JoinResult> Join(JoinRequest? request)
    {
        request = validate.Require(request);
        var (roomId, sinceSeq) = (validate.RoomId(request.RoomId), validate.OptionalSinceSeq(request.SinceSeq));
        var aborted = Context.ConnectionAborted;
        return Connection.Calls.AfterEarlierCallsAsync(() => rooms.JoinAsync(Connection, roomId, sinceSeq, aborted));
    }

    public Task Leave(LeaveRequest? request)
    {
        var roomId = validate.RoomId(validate.Require(request).RoomId);
        return Connection.Calls.AfterEarlierCallsAsync(() => rooms.LeaveAsync(Connection, roomId));
    }

    public Task<WriteResult> Set(SetRequest? request)
    {
        request = validate.Require(request);
        var roomId = WritableRoom(request.RoomId);
        return rooms.WriteAsync(Connection, Command(WriteKind.Set, roomId, validate.Key(request.Key), validate.Value(request.Value), request.MutationId, request.ExpectedVersion));
    }

    public Task<WriteResult> Delete(DeleteRequest? request)
    {
        request = validate.Require(request);
        var roomId = WritableRoom(request.RoomId);
        return rooms.WriteAsync(Connection, Command(WriteKind.Delete, roomId, validate.Key(request.Key), null, request.MutationId, request.ExpectedVersion));
    }

    public Task<BatchResult> Batch(BatchRequest? request)
    {
        request = validate.Require(request);
        var roomId = WritableRoom(request.RoomId);
        var ops = validate.BatchOps(request.Ops);
        return rooms.BatchAsync(Connection, new WriteCommand(WriteKind.Batch, roomId, Connection.UserId, null, null, validate.MutationId(request.MutationId), null, ops));
    }

    public Task<PostResult> Post(PostRequest? request)
    {
        request = validate.Require(request);
        var roomId = WritableRoom(request.RoomId);
        return rooms.PostAsync(Connection, Command(WriteKind.Post, roomId, null, validate.Body(request.Body), request.MutationId, null));
    }

    public Task<SyncResult> Sync(SyncRequest? request)
    {
        request = validate.Require(request);
        var aborted = Context.ConnectionAborted;
        // Checked in turn, membership included: a Sync sent right after its room's Join waits for it.
        return Connection.Calls.AfterEarlierCallsAsync(() =>
        {
            var roomId = JoinedRoom(request.RoomId);
            return rooms.SyncAsync(Connection, roomId, validate.SinceSeq(request.SinceSeq), validate.Limit(request.Limit), aborted);
        });
    }

    public Task Signal(SignalRequest? request)
    {
        request = validate.Require(request);
        var roomId = WritableRoom(request.RoomId);
        rooms.Signal(Connection, roomId, validate.Payload(request.Payload));
        return Task.CompletedTask;
    }

    public Task Grant(GrantRequest? request)
    {
        request = validate.Require(request);
        var aborted = Context.ConnectionAborted;
        return Connection.Calls.AfterEarlierCallsAsync(() =>
        {
            var roomId = JoinedRoom(request.RoomId);
            return rooms.GrantAsync(Connection, roomId, validate.UserId(request.UserId), validate.Role(request.Role), aborted);
        });
    }

    public Task<RoomAccess> GetAccess(GetAccessRequest? request)
    {
        request = validate.Require(request);
        var aborted = Context.ConnectionAborted;
        return Connection.Calls.AfterEarlierCallsAsync(() => rooms.GetAccessAsync(Connection, JoinedRoom(request.RoomId), aborted));
    }

    /// <summary>A write to a room already checked by <see cref="WritableRoom"/> (so a bad room is reported before a bad key).</summary>
    private WriteCommand Command(WriteKind kind, string roomId, string? key, string? json, string? mutationId, long? expectedVersion) =>
        new(kind, roomId, Connection.UserId, key, json, validate.MutationId(mutationId), validate.ExpectedVersion(expectedVersion));

    private string JoinedRoom(string? roomId) => JoinedRoom(roomId, out _);

    private string JoinedRoom(string? roomId, out RoomRole role)
    {
        validate.RoomId(roomId);
        role = Connection.RoleIn(roomId!) ?? throw new CollabException(ErrorCodes.NotJoined, $"join room '{roomId}' before using it");
        return roomId!;
    }

    /// <summary>A joined room in which this connection may write and signal (an editor or owner, not a viewer).</summary>
    private string WritableRoom(string? roomId)
    {
        var joined = JoinedRoom(roomId, out var role);
        return role >= RoomRole.Editor
            ? joined
            : throw new CollabException(ErrorCodes.Forbidden, $"you are a {RoomRoles.ToWire(role)} in room '{joined}' and may not change it");
    }
}
