using CollabHub.Server.Configuration;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Security;

/// <summary>The public face of Security/: what ServerSetup calls to register and place authentication, CORS and headers.</summary>
internal static class SecuritySetup
{
    /// <summary>Authentication (bearer tokens; <c>?name=</c> in Development), authorization, CORS, the hub's user ids.</summary>
    public static IServiceCollection AddCollabHubSecurity(this IServiceCollection services, CollabHubOptions settings, IHostEnvironment environment, string hubPath)
    {
        services.AddCollabHubAuthentication(environment, hubPath);
        services.AddCollabHubCors(settings.Cors, environment.IsDevelopment());
        services.AddSingleton<IUserIdProvider, SubjectUserIdProvider>();
        services.AddSingleton<ConnectionBinding>();
        return services;
    }

    /// <summary>
    /// CORS, then who the user is, then whether the endpoint lets them in, then whether a request on an existing
    /// connection comes from the user who negotiated it. After static files, before the endpoints.
    /// </summary>
    public static IApplicationBuilder UseCollabHubAuthentication(this IApplicationBuilder app, string hubPath)
    {
        app.UseCors();
        app.UseAuthentication();
        app.UseAuthorization();
        var bindings = app.ApplicationServices.GetRequiredService<ConnectionBinding>();
        app.Use(next => bindings.Handle(next, hubPath));
        return app;
    }

    /// <summary><c>POST /auth/dev-token</c> in Development (outside it, nothing: 404), and the start-up report.</summary>
    public static void MapCollabHubAuthEndpoints(this WebApplication app)
    {
        if (app.Environment.IsDevelopment())
        {
            app.MapDevToken().RequireCors(CorsSetup.PolicyName);
        }
        app.ReportAuthentication();
    }
}
