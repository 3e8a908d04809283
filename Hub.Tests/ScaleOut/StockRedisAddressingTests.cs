using CollabHub.Server.Configuration;
using CollabHub.Tests.Infrastructure;
using StackExchange.Redis;

namespace CollabHub.Tests.ScaleOut;

/// <summary>
/// The specification against <c>CollabHub:Backplane:Provider = SignalR</c>: the stock <c>AddStackExchangeRedis</c>
/// lifetime manager on our multiplexer, two instances and a real redis-server.
/// </summary>
public sealed class StockRedisAddressingTests : AddressingSpecification
{
    private RedisServerProcess? _redis;
    private HubInstance? _first;
    private HubInstance? _second;
    private string _prefix = "";

    private protected override async Task<(HubInstance First, HubInstance Second)> StartInstancesAsync()
    {
        _redis = await RedisServerProcess.StartAsync();
        _prefix = $"stock-{Guid.NewGuid():N}";
        _first = await HubInstance.StartAsync(_redis.ConnectionString, _prefix, BackplaneProvider.SignalR);
        _second = await HubInstance.StartAsync(_redis.ConnectionString, _prefix, BackplaneProvider.SignalR);
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

    [Fact]
    public async Task The_stock_backplane_puts_its_channels_under_the_deployment_prefix()
    {
        await using var connection = await First.ConnectAsync("someone");
        await using var admin = await ConnectionMultiplexer.ConnectAsync(_redis!.ConnectionString).Within();

        var channels = (string[])(await admin.GetDatabase().ExecuteAsync("PUBSUB", "CHANNELS").Within())!;

        Assert.Contains($"{_prefix}:{typeof(AddressingHub).FullName}:all", channels);
        Assert.Contains($"{_prefix}:{typeof(AddressingHub).FullName}:connection:{connection.Id}", channels);
    }
}
