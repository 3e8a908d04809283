using CollabHub.Server.Backplane.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CollabHub.Server.Ops;

/// <summary>Ready only while the Redis backplane is connected: a load balancer then prefers instances that reach the others.</summary>
internal sealed class RedisHealthCheck(RedisClient redis) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(redis.IsConnected
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("the Redis backplane is unreachable; reconnecting"));
}
