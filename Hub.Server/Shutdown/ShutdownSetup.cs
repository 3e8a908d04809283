using CollabHub.Server.Configuration;
using CollabHub.Server.Ops;

namespace CollabHub.Server.Shutdown;

/// <summary>Graceful drain on SIGTERM for rolling restarts (docs/operations.md, "Rolling restarts").</summary>
internal static class ShutdownSetup
{
    public static IServiceCollection AddCollabHubShutdown(this IServiceCollection services, ShutdownOptions options)
    {
        services.AddSingleton<DrainState>();
        services.AddSingleton<DrainFilter>();
        services.AddSingleton<ConnectionDrain>();
        services.AddSingleton<IHostLifetime, DrainingHostLifetime>();
        // What is left of the budget once the drain is over: nothing new was accepted meanwhile, so nothing holds it.
        services.Configure<HostOptions>(host => host.ShutdownTimeout = options.HostStopTimeout);
        services.AddHealthChecks().AddCheck<DrainHealthCheck>("drain", tags: [HealthEndpoints.ReadyTag]);
        return services;
    }

    public static IApplicationBuilder UseCollabHubDrain(this IApplicationBuilder app, string hubPath) =>
        app.UseMiddleware<RefuseWhileDraining>(new PathString(hubPath));
}
