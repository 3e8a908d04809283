using CollabHub.Server.Store;
using CollabHub.Server.Telemetry;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CollabHub.Server.Ops;

/// <summary><c>/healthz</c>: the process is alive. <c>/readyz</c>: it can serve (the store answers).</summary>
internal static class HealthEndpoints
{
    public const string ReadyTag = "ready";

    public static IServiceCollection AddCollabHubHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<StoreHealthCheck>("store", tags: [ReadyTag]);
        return services;
    }

    public static void MapCollabHubHealthChecks(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/healthz", new() { Predicate = _ => false });
        var readiness = endpoints.ServiceProvider.GetRequiredService<ReadinessLog>();
        endpoints.MapHealthChecks("/readyz", new() { Predicate = check => check.Tags.Contains(ReadyTag), ResponseWriter = readiness.WriteAsync });
    }
}

internal sealed class StoreHealthCheck(IDbContextFactory<StoreDbContext> contexts) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            return await db.Database.CanConnectAsync(cancellationToken)
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy("the store's database cannot be reached");
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy("the store's database cannot be reached", ex);
        }
    }
}
