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
        var origins = NormalizedOrigins(settings.AllowedOrigins);
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

    /// <summary>The allowed origins as browsers send them (<c>scheme://host[:port]</c>, lower case, no default port).</summary>
    public static string[] NormalizedOrigins(IEnumerable<string> allowed) =>
        [.. allowed.Select(o => TryNormalizeOrigin(o, out var origin) ? origin : null).OfType<string>().Distinct(StringComparer.Ordinal)];

    /// <summary>Reads one configured origin; false when it is not <c>scheme://host[:port]</c> (no path, no wildcard).</summary>
    public static bool TryNormalizeOrigin(string? value, out string origin)
    {
        origin = "";
        if (string.IsNullOrWhiteSpace(value) || !Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query)
            || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo) || uri.Host.Contains('*'))
        {
            return false;
        }
        origin = uri.GetLeftPart(UriPartial.Authority).ToLowerInvariant();
        return true;
    }
}
