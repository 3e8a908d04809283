using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Security;

/// <summary>
/// Adds the security headers to every response (the page, static files, the hub's HTTP answers, health):
/// <c>Content-Security-Policy</c> (<c>CollabHub:Headers:ContentSecurityPolicy</c>), <c>X-Content-Type-Options: nosniff</c>,
/// <c>Referrer-Policy: no-referrer</c> and <c>X-Frame-Options: DENY</c>. They are added when the response starts, so
/// error pages get them too; a header already set by the endpoint is kept.
/// </summary>
internal static class SecurityHeaders
{
    public static IApplicationBuilder UseCollabHubSecurityHeaders(this IApplicationBuilder app)
    {
        var csp = app.ApplicationServices.GetRequiredService<IOptions<CollabHubOptions>>().Value.Headers.ContentSecurityPolicy;
        return app.Use((context, next) =>
        {
            context.Response.OnStarting(static state =>
            {
                var (response, policy) = ((HttpResponse, string))state;
                var headers = response.Headers;
                if (policy.Length > 0)
                {
                    headers.TryAdd("Content-Security-Policy", policy);
                }
                headers.TryAdd("X-Content-Type-Options", "nosniff");
                headers.TryAdd("Referrer-Policy", "no-referrer");
                headers.TryAdd("X-Frame-Options", "DENY");
                return Task.CompletedTask;
            }, (context.Response, csp));
            return next(context);
        });
    }
}
