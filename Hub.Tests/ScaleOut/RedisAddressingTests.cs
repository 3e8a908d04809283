using CollabHub.Server.Configuration;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Tests.ScaleOut;

/// <summary>The specification against the Redis backplane: two instances and a real redis-server.</summary>
public sealed class RedisAddressingTests() : RedisAddressingSpecification(BackplaneProvider.CollabHub)
{
    [Fact]
    public async Task Adding_a_connection_that_no_instance_holds_to_a_group_fails_with_a_clear_timeout()
    {
        var error = await Assert.ThrowsAsync<TimeoutException>(() => First.Context.Groups.AddToGroupAsync("no-such-connection", "g"));

        Assert.Contains("not acknowledged", error.Message);
        Assert.Contains("no-such-connection", error.Message);
    }

    [Fact]
    public async Task Instances_with_different_prefixes_do_not_hear_each_other()
    {
        await using var other = await HubInstance.StartAsync(Redis.ConnectionString, "another-deployment");
        await using var outsider = await other.ConnectAsync("outsider");
        await using var insider = await First.ConnectAsync("insider");

        await First.Context.Clients.All.SendAsync("Got", "ours");
        await other.Context.Clients.All.SendAsync("Got", "theirs");
        await insider.WaitForAsync("ours");
        await outsider.WaitForAsync("theirs");

        Assert.DoesNotContain("theirs", insider.Received);
        Assert.DoesNotContain("ours", outsider.Received);
    }

    [Fact]
    public async Task Our_backplane_puts_its_channels_under_the_deployment_prefix()
    {
        await using var connection = await First.ConnectAsync("someone");
        var channels = await SubscribedChannelsAsync();

        Assert.Contains($"{Prefix}:{nameof(AddressingHub)}:all", channels);
        Assert.Contains($"{Prefix}:{nameof(AddressingHub)}:connection:{connection.Id}", channels);
    }
}
