using System.Text;
using CollabHub.Server.Backplane;
using CollabHub.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace CollabHub.Tests.Redis;

/// <summary>
/// What the backplane, presence and the cluster bus rely on from <see cref="RedisConnection"/> (StackExchange.Redis
/// underneath): ordered pub/sub, subscriptions that survive outages, fail-fast publishes, a bound on what waits.
/// </summary>
public sealed class RedisConnectionTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    private RedisServerProcess Server => fixture.Server;

    [Fact]
    public async Task Messages_of_one_channel_reach_the_handler_in_the_order_they_were_published()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Configuration());
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("ordered");
        await redis.SubscribeAsync(channel, inbox.Handler).Within();

        await Task.WhenAll(Enumerable.Range(0, 2000).Select(i => redis.PublishAsync(channel, Encoding.UTF8.GetBytes(i.ToString())))).Within();

        await RedisTestKit.WaitUntilAsync(() => inbox.Texts.Count == 2000, "2000 messages");
        Assert.Equal(Enumerable.Range(0, 2000).Select(i => i.ToString()), inbox.Texts);
    }

    [Fact]
    public async Task A_published_message_keeps_its_exact_bytes_and_unsubscribing_stops_that_channel_only()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Configuration());
        var received = new List<byte[]>();
        var kept = new MessageInbox();
        var left = RedisTestKit.NewKey("left");
        var keptChannel = RedisTestKit.NewKey("kept");
        await redis.SubscribeAsync(left, payload => received.Add(payload.ToArray())).Within();
        await redis.SubscribeAsync(keptChannel, kept.Handler).Within();
        byte[] payload = [0, 1, 2, 13, 10, 255, .. "hello"u8];

        await redis.PublishAsync(left, payload).Within();
        await RedisTestKit.WaitUntilAsync(() => received.Count == 1, "the binary message");
        redis.Unsubscribe(left);
        await redis.PublishAsync(left, "after"u8.ToArray()).Within();
        await redis.PublishAsync(keptChannel, "after"u8.ToArray()).Within();

        await kept.WaitForAsync("after");
        Assert.Equal(payload, Assert.Single(received));
    }

    [Fact]
    public async Task A_handler_that_throws_is_logged_at_powers_of_two_and_the_channel_goes_on()
    {
        var logger = new RecordingLogger<RedisConnection>();
        await using var redis = await RedisTestKit.ConnectAsync(Server.Configuration(), logger);
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("throwing");
        await redis.SubscribeAsync(channel, payload =>
        {
            inbox.Handler(payload);
            throw new InvalidOperationException("handler bug");
        }).Within();

        for (var i = 0; i < 5; i++)
        {
            await redis.PublishAsync(channel, Encoding.UTF8.GetBytes($"m{i}")).Within();
        }

        await inbox.WaitForAsync("m4");
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], inbox.Texts);
        Assert.Equal(3, logger.Count(4030)); // failures 1, 2 and 4
    }

    [Fact]
    public async Task Beyond_MaxPendingPublishes_a_publish_fails_at_once_and_the_others_complete_when_Redis_answers()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Configuration(), maxPendingPublishes: 3);
        await using var admin = await ConnectionMultiplexer.ConnectAsync(Server.ConnectionString + ",allowAdmin=true").Within();
        var channel = RedisTestKit.NewKey("slow");
        var inbox = new MessageInbox();
        await redis.SubscribeAsync(channel, inbox.Handler).Within();

        // WRITE pause holds PUBLISH (Redis 7) but lets the admin's UNPAUSE through.
        await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "30000", "WRITE").Within();
        var pending = Enumerable.Range(0, 3).Select(i => redis.PublishAsync(channel, Encoding.UTF8.GetBytes($"p{i}"))).ToList();
        var refused = redis.PublishAsync(channel, "refused"u8.ToArray());

        Assert.True(refused.IsFaulted, "a publish beyond the limit must fail at once, not wait for room");
        var error = await Assert.ThrowsAsync<RedisUnavailableException>(() => refused);
        Assert.Contains("MaxPendingPublishes", error.Message, StringComparison.Ordinal);
        await admin.GetDatabase().ExecuteAsync("CLIENT", "UNPAUSE").Within();
        await Task.WhenAll(pending).Within();
        await redis.PublishAsync(channel, "room again"u8.ToArray()).Within();
        await inbox.WaitForAsync("room again");
        Assert.Equal(["p0", "p1", "p2", "room again"], inbox.Texts);
    }

    [Fact]
    public async Task Through_a_Redis_restart_publishes_fail_at_once_subscriptions_come_back_and_it_is_logged_once_each_way()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var logger = new RecordingLogger<RedisConnection>();
        await using var redis = await RedisTestKit.ConnectAsync(server.Configuration(), logger);
        var before = new MessageInbox();
        var during = new MessageInbox();
        var channelBefore = RedisTestKit.NewKey("before");
        var channelDuring = RedisTestKit.NewKey("during");
        await redis.SubscribeAsync(channelBefore, before.Handler).Within();

        server.Kill();
        await RedisTestKit.WaitUntilAsync(() => !redis.IsConnected, "the connection to notice");
        var publish = redis.PublishAsync(channelBefore, "lost"u8.ToArray());
        Assert.True(publish.IsFaulted, "a publish while Redis is down fails at once");
        await Assert.ThrowsAsync<RedisUnavailableException>(() => publish);
        await redis.SubscribeAsync(channelDuring, during.Handler).Within(); // registered at once, subscribed on reconnect

        await server.RestartAsync().Within();
        await RedisTestKit.WaitUntilAsync(() => redis.IsConnected, "the connection to come back", TimeSpan.FromSeconds(30));
        await RedisTestKit.WaitUntilAsync(() => logger.Count(4004) == 1, "the reconnect to be logged");

        await redis.PublishAsync(channelBefore, "b"u8.ToArray()).Within();
        await redis.PublishAsync(channelDuring, "d"u8.ToArray()).Within();
        await before.WaitForAsync("b");
        await during.WaitForAsync("d");
        Assert.DoesNotContain("lost", before.Texts);
        Assert.Equal(1, logger.Count(4003));
        Assert.Equal(LogLevel.Warning, logger.Entries.Single(e => e.EventId.Id == 4003).Level);
        Assert.Matches(@"after an outage of \d+\.\d s", logger.Entries.Single(e => e.EventId.Id == 4004).Message);
    }

    [Fact]
    public async Task A_connection_made_while_Redis_is_down_returns_keeps_its_subscriptions_and_connects_when_Redis_comes_up()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await server.StopAsync();
        var logger = new RecordingLogger<RedisConnection>();
        await using var redis = await RedisTestKit.ConnectAsync(server.Configuration("connectTimeout=500"), logger);
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("early");

        Assert.False(redis.IsConnected);
        await redis.SubscribeAsync(channel, inbox.Handler).Within();
        await server.RestartAsync().Within();
        await RedisTestKit.WaitUntilAsync(() => redis.IsConnected, "the connection to connect", TimeSpan.FromSeconds(30));

        await redis.PublishAsync(channel, "hello"u8.ToArray()).Within();
        await inbox.WaitForAsync("hello");
        var unreachable = Assert.Single(logger.Entries, e => e.EventId.Id == 4002);
        Assert.Equal(LogLevel.Warning, unreachable.Level);
    }
}
