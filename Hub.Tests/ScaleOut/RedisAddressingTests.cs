using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR;
using StackExchange.Redis;

namespace CollabHub.Tests.ScaleOut;

/// <summary>The specification against the Redis backplane: two instances and a real redis-server.</summary>
public sealed class RedisAddressingTests : AddressingSpecification
{
    private RedisServerProcess? _redis;
    private HubInstance? _first;
    private HubInstance? _second;
    private string _prefix = "";

    private protected override async Task<(HubInstance First, HubInstance Second)> StartInstancesAsync()
    {
        _redis = await RedisServerProcess.StartAsync();
        _prefix = $"spec-{Guid.NewGuid():N}";
        _first = await HubInstance.StartAsync(_redis.ConnectionString, _prefix);
        _second = await HubInstance.StartAsync(_redis.ConnectionString, _prefix);
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
    public async Task Adding_a_connection_that_no_instance_holds_to_a_group_fails_with_a_clear_timeout()
    {
        var error = await Assert.ThrowsAsync<TimeoutException>(() => First.Context.Groups.AddToGroupAsync("no-such-connection", "g"));

        Assert.Contains("not acknowledged", error.Message);
        Assert.Contains("no-such-connection", error.Message);
    }

    [Fact]
    public async Task Instances_with_different_prefixes_do_not_hear_each_other()
    {
        await using var other = await HubInstance.StartAsync(_redis!.ConnectionString, "another-deployment");
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
        await using var admin = await ConnectionMultiplexer.ConnectAsync(_redis!.ConnectionString).Within();

        var channels = (string[])(await admin.GetDatabase().ExecuteAsync("PUBSUB", "CHANNELS").Within())!;

        Assert.Contains($"{_prefix}:{nameof(AddressingHub)}:all", channels);
        Assert.Contains($"{_prefix}:{nameof(AddressingHub)}:connection:{connection.Id}", channels);
    }
}
