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
internal sealed class RoomsHub(RoomService rooms, RequestValidator validate) : Hub
{
    private const string ConnectionKey = nameof(ConnectionRooms);

    private ConnectionRooms Connection => (ConnectionRooms)Context.Items[ConnectionKey]!;

    public override Task OnConnectedAsync()
    {
        // The endpoint requires an authenticated user, so an identity is always there.
        var identity = UserIdentity.From(Context.User)
            ?? throw HubErrors.Create(ErrorCodes.Forbidden, "the connection has no user identity");
        Context.Items[ConnectionKey] = new ConnectionRooms(Context.ConnectionId, identity.UserId, identity.Name);
        return Task.CompletedTask;
    }

    public override Task OnDisconnectedAsync(Exception? exception) =>
        Context.Items.TryGetValue(ConnectionKey, out var state) ? rooms.DisconnectedAsync((ConnectionRooms)state!) : Task.CompletedTask;

    public Task<JoinResult> Join(JoinRequest? request)
    {
        request = validate.Require(request);
        return rooms.JoinAsync(Connection, validate.RoomId(request.RoomId), validate.OptionalSinceSeq(request.SinceSeq), Context.ConnectionAborted);
    }

    public Task Leave(LeaveRequest? request) => rooms.LeaveAsync(Connection, validate.RoomId(validate.Require(request).RoomId));

    public Task<WriteResult> Set(SetRequest? request)
    {
        request = validate.Require(request);
        var roomId = JoinedRoom(request.RoomId);
        return rooms.WriteAsync(Command(MutationKind.Set, roomId, validate.Key(request.Key), validate.Value(request.Value), request.MutationId, request.ExpectedVersion));
    }

    public Task<WriteResult> Delete(DeleteRequest? request)
    {
        request = validate.Require(request);
        var roomId = JoinedRoom(request.RoomId);
        return rooms.WriteAsync(Command(MutationKind.Delete, roomId, validate.Key(request.Key), null, request.MutationId, request.ExpectedVersion));
    }

    public Task<PostResult> Post(PostRequest? request)
    {
        request = validate.Require(request);
        var roomId = JoinedRoom(request.RoomId);
        return rooms.PostAsync(Command(MutationKind.Post, roomId, null, validate.Body(request.Body), request.MutationId, null));
    }

    public Task<SyncResult> Sync(SyncRequest? request)
    {
        request = validate.Require(request);
        var roomId = JoinedRoom(request.RoomId);
        return rooms.SyncAsync(Connection, roomId, validate.SinceSeq(request.SinceSeq), validate.Limit(request.Limit), Context.ConnectionAborted);
    }

    public Task Signal(SignalRequest? request)
    {
        request = validate.Require(request);
        var roomId = JoinedRoom(request.RoomId);
        return rooms.SignalAsync(Connection, roomId, validate.Payload(request.Payload));
    }

    /// <summary>A write to a room already checked by <see cref="JoinedRoom"/> (so a bad room is reported before a bad key).</summary>
    private WriteCommand Command(MutationKind kind, string roomId, string? key, string? json, string? mutationId, long? expectedVersion) =>
        new(kind, roomId, Connection.UserId, key, json, validate.MutationId(mutationId), validate.ExpectedVersion(expectedVersion));

    private string JoinedRoom(string? roomId)
    {
        validate.RoomId(roomId);
        return Connection.IsIn(roomId!)
            ? roomId!
            : throw HubErrors.Create(ErrorCodes.NotJoined, $"join room '{roomId}' before using it");
    }
}
