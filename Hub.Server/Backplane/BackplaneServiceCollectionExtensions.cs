using CollabHub.Server.Backplane.Redis;
using CollabHub.Server.Configuration;
using CollabHub.Server.Ops;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CollabHub.Server.Backplane;

internal static class BackplaneServiceCollectionExtensions
{
    /// <summary>
    /// The backplane: with <c>CollabHub:Redis</c> empty, the in-process lifetime manager; otherwise our Redis
    /// client and the Redis lifetime manager, with Redis in <c>/readyz</c>. Call before AddSignalR, which keeps a
    /// lifetime manager registered first.
    /// </summary>
    public static IServiceCollection AddCollabHubBackplane(this IServiceCollection services, CollabHubOptions options)
    {
        services.AddSingleton<BackplaneInstance>();
        services.AddSingleton<ConnectionOutbox>();
        if (string.IsNullOrWhiteSpace(options.Redis))
        {
            services.AddSingleton(typeof(HubLifetimeManager<>), typeof(InProcessHubLifetimeManager<>));
            services.AddSingleton<IClusterBus, LocalClusterBus>();
            return services;
        }

        RedisConnectionOptions redis;
        try
        {
            redis = RedisConnectionOptions.Parse(options.Redis);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"CollabHub:Redis is not a valid connection string: {ex.Message}", ex);
        }
        services.AddSingleton(redis);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IRedisStreamFactory, SocketRedisStreamFactory>();
        services.AddSingleton<RedisClient>();
        services.AddHostedService<RedisClientLifetime>();
        services.AddSingleton(typeof(HubLifetimeManager<>), typeof(RedisHubLifetimeManager<>));
        services.AddSingleton<IClusterBus, RedisClusterBus>();
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: [HealthEndpoints.ReadyTag]);
        return services;
    }
}

/// <summary>Connects the Redis client when the server starts (without waiting for Redis to be up) and closes it at the end.</summary>
internal sealed class RedisClientLifetime(RedisClient redis) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => redis.StartAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken) => await redis.DisposeAsync();
}
