using CollabHub.Server.Backplane;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CollabHub.Server.Ops;

/// <summary>Ready only while Redis is connected (commands and subscriptions): a load balancer then prefers instances that reach the others.</summary>
internal sealed class RedisHealthCheck(RedisConnection redis) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(redis.IsConnected
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("Redis is unreachable; reconnecting"));
}
