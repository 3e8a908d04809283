using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CollabHub.Server.Shutdown;

/// <summary>Part of <c>/readyz</c>: a draining instance is not ready, so the load balancer sends new clients elsewhere.</summary>
internal sealed class DrainHealthCheck(DrainState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(state.IsDraining
            ? HealthCheckResult.Unhealthy("this instance is draining before it shuts down")
            : HealthCheckResult.Healthy());
}
