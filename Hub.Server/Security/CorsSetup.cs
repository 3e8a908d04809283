using CollabHub.Server.Configuration;

namespace CollabHub.Server.Security;

/// <summary>
/// The CORS policy of the hub (and of <c>/auth/dev-token</c>): the origins in <c>CollabHub:Cors:AllowedOrigins</c>,
/// with credentials; none by default; in Development with an empty list, any origin. CORS governs what a browser lets
/// a page of another origin read; WebSockets are not subject to it, and the token is what guards the hub.
/// </summary>
internal static class CorsSetup
{
    public const string PolicyName = "CollabHub";

    public static IServiceCollection AddCollabHubCors(this IServiceCollection services, CorsOptions settings, bool isDevelopment)
    {
        var origins = settings.NormalizedOrigins();
        services.AddCors(cors => cors.AddPolicy(PolicyName, policy =>
        {
            if (origins.Length > 0)
            {
                policy.WithOrigins(origins).AllowCredentials();
            }
            else if (isDevelopment)
            {
                // Any origin, with credentials (the SignalR JS client sends them): reflect the request's origin.
                policy.SetIsOriginAllowed(_ => true).AllowCredentials();
            }
            // Else no origin at all: the policy allows nothing, and cross-origin answers carry no CORS headers.
            // GET and POST for negotiate, SSE and long polling; DELETE for long polling's close.
            policy.AllowAnyHeader().WithMethods(HttpMethods.Get, HttpMethods.Post, HttpMethods.Delete).SetPreflightMaxAge(TimeSpan.FromMinutes(10));
        }));
        return services;
    }
}
