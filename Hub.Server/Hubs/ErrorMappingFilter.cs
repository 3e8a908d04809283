using CollabHub.Protocol;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Hubs;

/// <summary>
/// The one place that speaks SignalR's errors: a <see cref="CollabException"/> from any service becomes the
/// <see cref="HubException"/> clients see, <c>"code: detail"</c> (on a call, or when a connection is refused). Anything
/// unexpected is logged here and reported as <c>unavailable</c>: writes are all-or-nothing, so the client knows nothing
/// was applied and may retry. It calls the next step before any await, so writes reach the writer's queue in the order
/// they arrived (RoomsHub).
/// </summary>
internal sealed partial class ErrorMappingFilter(ILogger<ErrorMappingFilter> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(context);
        }
        catch (CollabException ex)
        {
            throw ToHubException(ex);
        }
        catch (OperationCanceledException) when (context.Context.ConnectionAborted.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            LogFailed(ex, context.HubMethodName);
            throw ToHubException(new CollabException(ErrorCodes.Unavailable, "the server could not complete the call; nothing was applied"));
        }
    }

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        try
        {
            await next(context);
        }
        catch (CollabException ex)
        {
            throw ToHubException(ex);
        }
    }

    private static HubException ToHubException(CollabException ex) => new($"{ex.Code}: {ex.Message}");

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Hub method {Method} failed")]
    private partial void LogFailed(Exception exception, string method);
}
