using System.Collections.Concurrent;
using System.Text;
using CollabHub.Server.Backplane.Redis;
using CollabHub.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace CollabHub.Tests.Redis;

/// <summary>RedisClient's pub/sub, and how it rides out connections that drop and a Redis that goes away and returns.</summary>
public sealed class RedisPubSubTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    private RedisServerProcess Server => fixture.Server;

    [Fact]
    public async Task A_published_message_reaches_the_handler_with_its_channel_and_exact_bytes()
    {
        await using var client = await RedisTestKit.StartClientAsync(Server.Options());
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("channel");
        await client.SubscribeAsync(channel, inbox.Handler).Within();

        byte[] payload = [0, 1, 2, 13, 10, 255, .. "hello"u8];
        Assert.Equal(1, await client.PublishAsync(channel, payload).Within());

        await RedisTestKit.WaitUntilAsync(() => inbox.All.Count == 1, "the message");
        var (receivedChannel, receivedPayload) = inbox.All.Single();
        Assert.Equal(channel, receivedChannel);
        Assert.Equal(payload, receivedPayload);
        Assert.Equal(1, client.Stats.MessagesReceived);
    }

    [Fact]
    public async Task Messages_of_one_channel_arrive_in_the_order_they_were_published()
    {
        await using var client = await RedisTestKit.StartClientAsync(Server.Options());
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("channel");
        await client.SubscribeAsync(channel, inbox.Handler).Within();

        await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => client.PublishAsync(channel, Encoding.UTF8.GetBytes(i.ToString())))).Within();

        await RedisTestKit.WaitUntilAsync(() => inbox.All.Count == 1000, "1000 messages");
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => i.ToString()), inbox.Texts(channel));
    }

    [Fact]
    public async Task Unsubscribing_stops_delivery_of_that_channel_only()
    {
        await using var client = await RedisTestKit.StartClientAsync(Server.Options());
        var inbox = new MessageInbox();
        var left = RedisTestKit.NewKey("left");
        var kept = RedisTestKit.NewKey("kept");
        await client.SubscribeAsync(left, inbox.Handler).Within();
        await client.SubscribeAsync(kept, inbox.Handler).Within();

        await client.UnsubscribeAsync(left).Within();
        Assert.Equal(0, await client.PublishAsync(left, "after"u8.ToArray()).Within());
        Assert.Equal(1, await client.PublishAsync(kept, "after"u8.ToArray()).Within());

        // One connection delivers in order: once the later message is in, the earlier one would have been too.
        await inbox.WaitForAsync(kept, "after");
        Assert.Empty(inbox.Texts(left));
    }

    [Fact]
    public async Task Subscribing_again_replaces_the_handler()
    {
        await using var client = await RedisTestKit.StartClientAsync(Server.Options());
        var first = new MessageInbox();
        var second = new MessageInbox();
        var channel = RedisTestKit.NewKey("channel");
        await client.SubscribeAsync(channel, first.Handler).Within();
        await client.SubscribeAsync(channel, second.Handler).Within();

        Assert.Equal(1, await client.PublishAsync(channel, "hi"u8.ToArray()).Within());

        await second.WaitForAsync(channel, "hi");
        Assert.Empty(first.All);
    }

    [Fact]
    public async Task A_handler_that_throws_is_counted_and_logged_and_delivery_goes_on()
    {
        var logger = new RecordingLogger<RedisClient>();
        await using var client = await RedisTestKit.StartClientAsync(Server.Options(), logger: logger);
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("channel");
        await client.SubscribeAsync(channel, (name, payload) =>
        {
            inbox.Handler(name, payload);
            throw new InvalidOperationException("handler bug");
        }).Within();

        for (var i = 0; i < 5; i++)
        {
            await client.PublishAsync(channel, Encoding.UTF8.GetBytes($"m{i}")).Within();
        }

        await inbox.WaitForAsync(channel, "m4");
        Assert.Equal(5, client.Stats.HandlerFailures);
        // Failures 1, 2 and 4 are logged, not every one.
        Assert.Equal(3, logger.Count(4030));
    }

    [Fact]
    public async Task A_dropped_connection_is_replaced_and_every_channel_subscribed_again()
    {
        await using var client = await RedisTestKit.StartClientAsync(Server.Options());
        var counts = new ConcurrentDictionary<string, int>();
        var channels = Enumerable.Range(0, 2500).Select(i => $"{RedisTestKit.NewKey("many")}:{i}").ToArray();
        foreach (var channel in channels)
        {
            await client.SubscribeAsync(channel, (name, _) => counts.AddOrUpdate(name, 1, (_, n) => n + 1)).Within();
        }
        var changes = new ConcurrentQueue<bool>();
        client.ConnectionChanged += changes.Enqueue;

        client.AbortConnections(new IOException("simulated network failure"));
        await RedisTestKit.WaitUntilAsync(() => changes.Count >= 2 && client.IsConnected, "the client to reconnect");

        Assert.Equal([false, true], changes);
        var delivered = await Task.WhenAll(channels.Select(channel => client.PublishAsync(channel, "x"u8.ToArray()))).Within();
        Assert.All(delivered, receivers => Assert.Equal(1, receivers));
        await RedisTestKit.WaitUntilAsync(() => counts.Count == channels.Length, "a message on every channel");
        Assert.All(counts.Values, count => Assert.Equal(1, count));
        Assert.Equal(1, client.Stats.ConnectionsLost);
        Assert.Equal(1, client.Stats.Reconnects);
    }

    [Fact]
    public async Task During_an_outage_commands_fail_fast_subscriptions_are_remembered_and_it_is_logged_once_each_way()
    {
        var logger = new RecordingLogger<RedisClient>();
        var streams = new FaultyStreamFactory();
        await using var client = await RedisTestKit.StartClientAsync(Server.Options("reconnectDelay=5,reconnectMaxDelay=20"), streams, logger);
        var inbox = new MessageInbox();
        var before = RedisTestKit.NewKey("before");
        var during = RedisTestKit.NewKey("during");
        var dropped = RedisTestKit.NewKey("dropped");
        await client.SubscribeAsync(before, inbox.Handler).Within();
        await client.SubscribeAsync(dropped, inbox.Handler).Within();

        streams.Refuse = true;
        client.AbortConnections(new IOException("simulated network failure"));
        await RedisTestKit.WaitUntilAsync(() => client.Stats.FailedConnectAttempts >= 10, "ten failed attempts");

        Assert.False(client.IsConnected);
        var command = client.ExecuteAsync("PING");
        var publish = client.PublishAsync(before, "x"u8.ToArray());
        Assert.True(command.IsFaulted && publish.IsFaulted, "commands must fail at once while disconnected");
        await Assert.ThrowsAsync<RedisConnectionException>(() => command);
        await Assert.ThrowsAsync<RedisConnectionException>(() => publish);
        await client.SubscribeAsync(during, inbox.Handler).Within();    // recorded, completes at once
        await client.UnsubscribeAsync(dropped).Within();               // forgotten, completes at once

        streams.Refuse = false;
        await RedisTestKit.WaitUntilAsync(() => client.IsConnected, "the client to reconnect");

        Assert.Equal(1, await client.PublishAsync(before, "b"u8.ToArray()).Within());
        Assert.Equal(1, await client.PublishAsync(during, "d"u8.ToArray()).Within());
        Assert.Equal(0, await client.PublishAsync(dropped, "x"u8.ToArray()).Within());
        await inbox.WaitForAsync(before, "b");
        await inbox.WaitForAsync(during, "d");
        Assert.Empty(inbox.Texts(dropped));

        Assert.Equal(1, logger.Count(4003)); // lost: Warning, once
        Assert.Equal(1, logger.Count(4004)); // back: Information, once
        Assert.Equal(0, logger.Count(4002));
        Assert.True(logger.Count(4005) >= 9, "the failed attempts in between are logged at Debug level");
        var lost = logger.Entries.Single(e => e.EventId.Id == 4003);
        Assert.Equal(LogLevel.Warning, lost.Level);
        Assert.Contains("simulated network failure", lost.Message, StringComparison.Ordinal);
        var back = logger.Entries.Single(e => e.EventId.Id == 4004);
        Assert.Equal(LogLevel.Information, back.Level);
        Assert.Matches(@"after an outage of \d+\.\d s and \d+ failed attempts", back.Message);
        Assert.All(logger.Entries.Where(e => e.EventId.Id == 4005), e => Assert.Equal(LogLevel.Debug, e.Level));
    }

    [Fact]
    public async Task A_connection_that_stops_answering_is_noticed_by_the_keep_alive_and_replaced()
    {
        var streams = new FaultyStreamFactory();
        await using var client = await RedisTestKit.StartClientAsync(Server.Options("keepAlive=1"), streams);
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("channel");
        await client.SubscribeAsync(channel, inbox.Handler).Within();

        // Both connections go silent: nothing written reaches Redis, so nothing is answered, yet no error is seen.
        foreach (var stream in streams.Opened)
        {
            stream.StallWrites = true;
        }
        var stuck = client.ExecuteAsync("PING");

        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => stuck.Within());
        Assert.Contains("has not answered", error.Message, StringComparison.Ordinal);
        await RedisTestKit.WaitUntilAsync(() => client.IsConnected, "the client to reconnect");
        Assert.Equal(1, await client.PublishAsync(channel, "alive"u8.ToArray()).Within());
        await inbox.WaitForAsync(channel, "alive");
    }

    [Fact]
    public async Task Redis_killed_and_restarted_on_its_port_is_reconnected_to_with_subscriptions_restored()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var logger = new RecordingLogger<RedisClient>();
        await using var client = await RedisTestKit.StartClientAsync(server.Options("reconnectMaxDelay=200"), logger: logger);
        var changes = new ConcurrentQueue<bool>();
        client.ConnectionChanged += changes.Enqueue;
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("channel");
        await client.SubscribeAsync(channel, inbox.Handler).Within();

        server.Kill();
        await RedisTestKit.WaitUntilAsync(() => !client.IsConnected, "the client to notice");
        var command = client.ExecuteAsync("PING");
        Assert.True(command.IsCompleted, "a command while Redis is down fails at once");
        await Assert.ThrowsAsync<RedisConnectionException>(() => command);

        await server.RestartAsync().Within();
        await RedisTestKit.WaitUntilAsync(() => client.IsConnected, "the client to reconnect");

        Assert.Equal(1, await client.PublishAsync(channel, "after restart"u8.ToArray()).Within());
        await inbox.WaitForAsync(channel, "after restart");
        Assert.Equal([false, true], changes);
        Assert.Equal(1, client.Stats.ConnectionsLost);
        Assert.Equal(1, client.Stats.Reconnects);
        Assert.Equal(1, logger.Count(4003));
        Assert.Equal(1, logger.Count(4004));
    }

    [Fact]
    public async Task A_client_started_while_Redis_is_down_returns_at_once_and_connects_when_Redis_comes_up()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await server.StopAsync();
        var logger = new RecordingLogger<RedisClient>();
        await using var client = RedisTestKit.NewClient(server.Options("reconnectMaxDelay=200"), logger: logger);
        var inbox = new MessageInbox();
        var channel = RedisTestKit.NewKey("channel");

        await client.StartAsync(CancellationToken.None).Within();
        Assert.False(client.IsConnected);
        await client.SubscribeAsync(channel, inbox.Handler).Within(); // remembered for when Redis is there
        await server.RestartAsync().Within();
        await RedisTestKit.WaitUntilAsync(() => client.IsConnected, "the client to connect");

        Assert.Equal(1, await client.PublishAsync(channel, "hello"u8.ToArray()).Within());
        await inbox.WaitForAsync(channel, "hello");
        var unreachable = Assert.Single(logger.Entries, e => e.EventId.Id == 4002);
        Assert.Equal(LogLevel.Warning, unreachable.Level);
        Assert.Equal(1, logger.Count(4004));
        Assert.Equal(1, client.Stats.Reconnects);
    }

    [Fact]
    public async Task Disposing_the_client_fails_pending_commands_and_later_ones_at_once()
    {
        var client = await RedisTestKit.StartClientAsync(Server.Options());
        var blocked = client.ExecuteAsync("BLPOP", RedisTestKit.NewKey("empty"), 30);

        await client.DisposeAsync().AsTask().Within();

        await Assert.ThrowsAsync<RedisConnectionException>(() => blocked.Within());
        Assert.False(client.IsConnected);
        var late = client.ExecuteAsync("PING");
        Assert.True(late.IsFaulted);
        Assert.Contains("disposed", (await Assert.ThrowsAsync<RedisConnectionException>(() => late)).Message, StringComparison.Ordinal);
    }
}
