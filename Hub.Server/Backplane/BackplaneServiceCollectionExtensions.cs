using CollabHub.Server.Configuration;
using CollabHub.Server.Ops;
using CollabHub.Server.Telemetry;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.StackExchangeRedis;
using StackExchange.Redis;

namespace CollabHub.Server.Backplane;

internal static class BackplaneServiceCollectionExtensions
{
    /// <summary>
    /// The backplane: with <c>CollabHub:Redis</c> empty, the in-process lifetime manager; otherwise one shared
    /// <see cref="RedisConnection"/> (made when first needed, at start-up by the hosted services that use presence or
    /// the cluster bus; it connects in the background), the lifetime manager of <see cref="BackplaneOptions.Provider"/> on it, the cluster bus,
    /// and Redis in <c>/readyz</c>. Call before AddSignalR, which keeps a lifetime manager registered first.
    /// </summary>
    public static IServiceCollection AddCollabHubBackplane(this IServiceCollection services, CollabHubOptions options)
    {
        services.AddSingleton<BackplaneInstance>();
        services.AddCollabHubMetrics(); // counted by the outbox and the Redis lifetime manager
        services.AddSingleton<ConnectionOutbox>();
        if (!options.UsesRedis)
        {
            services.AddSingleton(typeof(HubLifetimeManager<>), typeof(InProcessHubLifetimeManager<>));
            services.AddSingleton<IClusterBus, LocalClusterBus>();
            return services;
        }

        var configuration = RedisConfiguration(options);
        services.AddSingleton(sp => new RedisConnection(configuration, options.Backplane, sp.GetRequiredService<ILogger<RedisConnection>>()));
        if (options.Backplane.Provider == BackplaneProvider.SignalR)
        {
            // The stock backplane on our multiplexer; its channels get the same prefix from the multiplexer's ChannelPrefix.
            services.AddSignalR().AddStackExchangeRedis();
            services.AddOptions<RedisOptions>().Configure<RedisConnection>((stock, redis) =>
                stock.ConnectionFactory = _ => redis.GetMultiplexerAsync());
        }
        else
        {
            services.AddSingleton(typeof(HubLifetimeManager<>), typeof(RedisHubLifetimeManager<>));
        }
        services.AddSingleton<IClusterBus, RedisClusterBus>();
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: [HealthEndpoints.ReadyTag]);
        return services;
    }

    /// <summary>
    /// <c>CollabHub:Redis</c> as StackExchange.Redis parses it, with what the hub needs on top: start without Redis
    /// (<c>AbortOnConnectFail = false</c>) and every channel under <c>{RedisPrefix}:</c>.
    /// </summary>
    private static ConfigurationOptions RedisConfiguration(CollabHubOptions options)
    {
        ConfigurationOptions configuration;
        try
        {
            configuration = ConfigurationOptions.Parse(options.Redis);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"CollabHub:Redis is not a valid connection string: {ex.Message}", ex);
        }
        if (!configuration.ChannelPrefix.IsNullOrEmpty)
        {
            throw new InvalidOperationException(
                "CollabHub:Redis is not a valid connection string: leave out channelPrefix; CollabHub:RedisPrefix sets it for every channel.");
        }
        configuration.AbortOnConnectFail = false;
        configuration.ChannelPrefix = RedisChannel.Literal(options.RedisPrefix + ":");
        return configuration;
    }
}
