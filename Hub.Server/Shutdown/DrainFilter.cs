using CollabHub.Protocol;
using CollabHub.Server.Hubs;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Shutdown;

/// <summary>
/// The hub's view of the drain: counts the calls running and the connections open, and once the drain has started
/// refuses new calls with <c>unavailable</c> (a temporary code: the SDKs send them again on their next connection, to
/// another instance). It calls the next step before any await, so writes keep their arrival order (RoomsHub).
/// </summary>
internal sealed class DrainFilter(DrainState state) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        if (!state.TryEnterCall())
        {
            throw new CollabException(ErrorCodes.Unavailable, "this server is restarting; nothing was applied: send it again on the next connection");
        }
        try
        {
            return await next(context);
        }
        finally
        {
            state.ExitCall();
        }
    }

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        await next(context);
        state.AddConnection(context.Context.ConnectionId, context.Context.Features.Get<IConnectionLifetimeNotificationFeature>());
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        try
        {
            await next(context, exception);
        }
        finally
        {
            // After the hub's own disconnect work (presence), so that "no connections left" means it is all done.
            state.RemoveConnection(context.Context.ConnectionId);
        }
    }
}
