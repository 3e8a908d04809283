using CollabHub.Server.Configuration;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ScaleOut;

/// <summary>
/// The specification against <c>CollabHub:Backplane:Provider = SignalR</c>: the stock <c>AddStackExchangeRedis</c>
/// lifetime manager on our multiplexer, two instances and a real redis-server.
/// </summary>
public sealed class StockRedisAddressingTests() : RedisAddressingSpecification(BackplaneProvider.SignalR)
{
    [Fact]
    public async Task The_stock_backplane_puts_its_channels_under_the_deployment_prefix()
    {
        await using var connection = await First.ConnectAsync("someone");
        var channels = await SubscribedChannelsAsync();

        Assert.Contains($"{Prefix}:{typeof(AddressingHub).FullName}:all", channels);
        Assert.Contains($"{Prefix}:{typeof(AddressingHub).FullName}:connection:{connection.Id}", channels);
    }
}
