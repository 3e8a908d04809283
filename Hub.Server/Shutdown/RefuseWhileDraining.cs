using Microsoft.Net.Http.Headers;

namespace CollabHub.Server.Shutdown;

/// <summary>
/// During the drain, new hub connections (negotiate, WebSocket upgrades, Server-Sent Events streams) get 503 with
/// <c>Retry-After</c>, which the load balancer takes as "try another instance". Long Polling requests of existing
/// connections still pass: they carry the close message.
/// </summary>
internal sealed class RefuseWhileDraining(RequestDelegate next, DrainState state, PathString hubPath)
{
    private const string RetryAfterSeconds = "1";

    public Task InvokeAsync(HttpContext context)
    {
        if (!state.IsDraining || !IsNewConnection(context))
        {
            return next(context);
        }
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = RetryAfterSeconds;
        context.Response.Headers.Connection = "close";
        return context.Response.WriteAsync("unavailable: this instance is shutting down; connect again (another instance will answer)");
    }

    private bool IsNewConnection(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments(hubPath, out var rest))
        {
            return false;
        }
        return rest == "/negotiate"
            || context.WebSockets.IsWebSocketRequest
            || context.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);
    }
}
