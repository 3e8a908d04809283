using CollabHub.Server.Configuration;
using CollabHub.Tests.Infrastructure;
using StackExchange.Redis;

namespace CollabHub.Tests.ScaleOut;

/// <summary>The specification on two instances that share a real redis-server, under one backplane provider.</summary>
public abstract class RedisAddressingSpecification(BackplaneProvider provider) : AddressingSpecification
{
    private RedisServerProcess? _redis;
    private HubInstance? _first;
    private HubInstance? _second;

    /// <summary>The deployment's channel prefix, new for each test.</summary>
    protected string Prefix { get; private set; } = "";

    private protected RedisServerProcess Redis => _redis ?? throw new InvalidOperationException("the instances are not started");

    private protected override async Task<(HubInstance First, HubInstance Second)> StartInstancesAsync()
    {
        _redis = await RedisServerProcess.StartAsync();
        Prefix = $"{provider.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}";
        _first = await HubInstance.StartAsync(_redis.ConnectionString, Prefix, provider);
        _second = await HubInstance.StartAsync(_redis.ConnectionString, Prefix, provider);
        return (_first, _second);
    }

    private protected override async Task StopInstancesAsync()
    {
        foreach (var instance in new[] { _first, _second })
        {
            if (instance is not null)
            {
                await instance.DisposeAsync();
            }
        }
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    /// <summary>The channels Redis has subscribers on now.</summary>
    protected async Task<string[]> SubscribedChannelsAsync()
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync(Redis.ConnectionString).Within();
        return (string[])(await admin.GetDatabase().ExecuteAsync("PUBSUB", "CHANNELS").Within())!;
    }
}
