using CollabHub.Server.Backplane.Redis;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Redis;

/// <summary>The limits of a connection: beyond them a command fails at once, counted, instead of queueing without end.</summary>
public sealed class RedisBackpressureTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    private RedisServerProcess Server => fixture.Server;

    [Fact]
    public async Task Beyond_maxPendingCommands_a_command_fails_at_once_and_is_counted_and_the_rest_complete()
    {
        await using var client = await RedisTestKit.StartClientAsync(Server.Options("maxPendingCommands=3,keepAlive=0")); // no keep-alive PING to take a slot
        await using var admin = await RedisTestKit.ConnectAsync(Server.Options());
        var id = (await client.ExecuteAsync("CLIENT", "ID").Within()).AsInt64();
        var list = RedisTestKit.NewKey("list");

        // BLPOP holds the connection until something is pushed; two PINGs queue behind it: three pending.
        var blocked = client.ExecuteAsync("BLPOP", list, 30);
        var ping1 = client.ExecuteAsync("PING");
        var ping2 = client.ExecuteAsync("PING");
        await RedisTestKit.WaitUntilAsync(() => RedisProtocolTests.ClientIsBlocked(admin, id), "BLPOP to block");

        var refused = client.ExecuteAsync("SET", RedisTestKit.NewKey(), "never sent");
        var refusedPublish = client.PublishAsync("channel", "x"u8.ToArray());

        Assert.True(refused.IsFaulted, "the command must fail at once, not wait for room");
        var error = await Assert.ThrowsAsync<RedisBackpressureException>(() => refused);
        Assert.Contains("maxPendingCommands=3", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<RedisBackpressureException>(() => refusedPublish.Within());
        Assert.Equal(2, client.Stats.CommandsRejectedForBackpressure);
        Assert.False(blocked.IsCompleted);

        await admin.ExecuteAsync("LPUSH", list, "wake up").Within();

        Assert.Equal("wake up", (await blocked.Within()).AsArray()[1].AsString());
        Assert.Equal("PONG", (await ping1.Within()).AsString());
        Assert.Equal("PONG", (await ping2.Within()).AsString());
        Assert.Equal("PONG", (await client.ExecuteAsync("PING").Within()).AsString()); // room again
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Beyond_maxOutgoingBytes_a_command_fails_at_once_while_a_stalled_socket_holds_the_rest()
    {
        var streams = new FaultyStreamFactory();
        await using var client = await RedisTestKit.StartClientAsync(Server.Options("maxOutgoingBytes=1000,keepAlive=0"), streams);
        var key = RedisTestKit.NewKey();
        streams.Opened[0].StallWrites = true; // the command connection: the peer stops reading

        // With the key and framing, a SET of n bytes takes 64 + n bytes on the wire.
        var first = client.ExecuteAsync("SET", key, new byte[600]);       // 664: accepted, nothing else is waiting
        var second = client.ExecuteAsync("SET", key, new byte[600]);      // 664 + 664 > 1000: refused
        var small = client.ExecuteAsync("SET", key, new byte[200]);       // 664 + 264 = 928: fits
        var tooMuch = client.ExecuteAsync("SET", key, new byte[100]);     // 928 + 164 > 1000: refused

        Assert.True(second.IsFaulted);
        Assert.Contains("maxOutgoingBytes=1000", (await Assert.ThrowsAsync<RedisBackpressureException>(() => second)).Message, StringComparison.Ordinal);
        Assert.True(tooMuch.IsFaulted);
        Assert.False(first.IsCompleted);
        Assert.False(small.IsCompleted);
        Assert.Equal(2, client.Stats.CommandsRejectedForBackpressure);
    }

    [Fact]
    public async Task A_single_command_larger_than_maxOutgoingBytes_is_sent_when_nothing_else_is_waiting()
    {
        await using var client = await RedisTestKit.StartClientAsync(Server.Options("maxOutgoingBytes=1024"));
        var key = RedisTestKit.NewKey();

        await client.ExecuteAsync("SET", key, new byte[100_000]).Within();

        Assert.Equal(100_000, (await client.ExecuteAsync("STRLEN", key).Within()).AsInt64());
        Assert.Equal(0, client.Stats.CommandsRejectedForBackpressure);
    }
}
