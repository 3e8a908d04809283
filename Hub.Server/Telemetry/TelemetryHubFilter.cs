using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Telemetry;

/// <summary>
/// The outermost hub filter: every hub call runs in a log scope (connection id, user id, room id) and, when traced,
/// in a <c>CollabHub</c> span named after the method. It calls the next step before any await, so writes reach the
/// writer's queue in the order they arrived (RoomsHub).
/// </summary>
internal sealed class TelemetryHubFilter(ILogger<TelemetryHubFilter> logger, IOptions<CollabHubOptions> options) : IHubFilter
{
    private static readonly Func<ILogger, string, string, string?, string?, IDisposable?> CallScope =
        LoggerMessage.DefineScope<string, string, string?, string?>("{HubMethod} on connection {ConnectionId} of user {UserId} in room {RoomId}");

    private static readonly Func<ILogger, string, string?, IDisposable?> ConnectionScope =
        LoggerMessage.DefineScope<string, string?>("Connection {ConnectionId} of user {UserId}");

    private readonly int _maxRoomIdLength = options.Value.Limits.MaxRoomIdLength;

    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        var connection = context.Context;
        var roomId = RoomOf(context);
        using var scope = CallScope(logger, context.HubMethodName, connection.ConnectionId, connection.UserIdentifier, roomId);
        using var activity = CollabHubActivities.StartHubCall(context.HubMethodName, connection.ConnectionId, roomId);
        try
        {
            return await next(context);
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex is HubException ? ex.Message : ex.GetType().Name);
            throw;
        }
    }

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        using var scope = ConnectionScope(logger, context.Context.ConnectionId, context.Context.UserIdentifier);
        await next(context);
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        using var scope = ConnectionScope(logger, context.Context.ConnectionId, context.Context.UserIdentifier);
        await next(context, exception);
    }

    /// <summary>The room a call names, unchecked yet: only a plausible one goes into logs and spans.</summary>
    private string? RoomOf(HubInvocationContext context)
    {
        var roomId = context.HubMethodArguments.Count == 1 ? context.HubMethodArguments[0] switch
        {
            JoinRequest r => r.RoomId,
            LeaveRequest r => r.RoomId,
            SetRequest r => r.RoomId,
            DeleteRequest r => r.RoomId,
            BatchRequest r => r.RoomId,
            PostRequest r => r.RoomId,
            SyncRequest r => r.RoomId,
            SignalRequest r => r.RoomId,
            GrantRequest r => r.RoomId,
            GetAccessRequest r => r.RoomId,
            _ => null,
        } : null;
        return roomId is { Length: > 0 } && roomId.Length <= _maxRoomIdLength ? roomId : null;
    }
}
