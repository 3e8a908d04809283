using CollabHub.Protocol;
using CollabHub.Server.Store;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Hubs;

/// <summary>
/// Turns the services' exceptions into coded <see cref="HubException"/>s. Anything unexpected is logged here and
/// reported as <c>unavailable</c>: writes are all-or-nothing, so the client knows nothing was applied and may retry.
/// It calls the next step before any await, so writes reach the writer's queue in the order they arrived (RoomsHub).
/// </summary>
internal sealed partial class ErrorMappingFilter(ILogger<ErrorMappingFilter> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(context);
        }
        catch (HubException)
        {
            throw;
        }
        catch (StoreOverloadedException)
        {
            throw HubErrors.Create(ErrorCodes.Overloaded, "the server's write queue is full; retry shortly");
        }
        catch (MutationReusedException ex)
        {
            throw HubErrors.Create(ErrorCodes.MutationReused, ex.Message);
        }
        catch (CommitOutcomeUnknownException)
        {
            // Unlike the failures below, the write may have been stored: only a retry with the same mutation id is safe.
            throw HubErrors.Create(ErrorCodes.Unavailable, "the database connection broke while committing; the write may or may not be applied: retry it with the same mutationId");
        }
        catch (StoreUnavailableException ex)
        {
            throw HubErrors.Create(ErrorCodes.Unavailable, $"{ex.Message}; nothing was applied");
        }
        catch (OperationCanceledException) when (context.Context.ConnectionAborted.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            LogFailed(ex, context.HubMethodName);
            throw HubErrors.Create(ErrorCodes.Unavailable, "the server could not complete the call; nothing was applied");
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Hub method {Method} failed")]
    private partial void LogFailed(Exception exception, string method);
}
