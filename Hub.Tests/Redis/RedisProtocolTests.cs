using System.Text;
using CollabHub.Server.Backplane.Redis;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Redis;

/// <summary>One redis-server shared by the tests of a class that only read and write their own keys.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    internal RedisServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RedisServerProcess.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The RESP client against a real redis-server: every reply type, big and binary values, split reads, pipelining.</summary>
public sealed class RedisProtocolTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    private RedisServerProcess Server => fixture.Server;

    [Fact]
    public async Task Every_RESP2_reply_type_comes_back_from_a_real_server()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Options());
        await AssertEveryReplyTypeAsync(redis);
    }

    [Fact]
    public async Task Every_reply_type_parses_when_the_socket_hands_over_one_byte_per_read()
    {
        var streams = new FaultyStreamFactory(inner => new FaultyStream(inner) { OneBytePerRead = true });
        await using var redis = await RedisTestKit.ConnectAsync(Server.Options(), streams);

        await AssertEveryReplyTypeAsync(redis);

        // A bulk string of 100 KB, and a pipeline whose replies share reads.
        var key = RedisTestKit.NewKey();
        var value = RandomBytes(100_000);
        await redis.ExecuteAsync("SET", key, value).Within();
        Assert.Equal(value, (await redis.ExecuteAsync("GET", key).Within()).AsBytes().ToArray());
        var counter = RedisTestKit.NewKey("counter");
        var incrs = Enumerable.Range(0, 200).Select(_ => redis.ExecuteAsync("INCR", counter)).ToArray();
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), (await Task.WhenAll(incrs).Within()).Select(r => r.AsInt64()));
        Assert.True(streams.Opened.Single().BytesRead > 100_000);
    }

    [Fact]
    public async Task A_20_MB_value_is_set_and_read_back_intact()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Options());
        var key = RedisTestKit.NewKey();
        var value = RandomBytes(20 * 1024 * 1024);

        Assert.Equal("OK", (await redis.ExecuteAsync("SET", key, value).Within()).AsString());
        var reply = await redis.ExecuteAsync("GET", key).Within();

        Assert.True(value.AsSpan().SequenceEqual(reply.AsBytes().Span));
        Assert.Equal(value.Length, (await redis.ExecuteAsync("STRLEN", key).Within()).AsInt64());
        await redis.ExecuteAsync("DEL", key).Within();
    }

    [Fact]
    public async Task A_reply_larger_than_maxReplyBytes_closes_the_connection_with_a_clear_reason()
    {
        await using var writer = await RedisTestKit.ConnectAsync(Server.Options());
        var key = RedisTestKit.NewKey();
        await writer.ExecuteAsync("SET", key, new byte[4096]).Within();
        await using var reader = await RedisTestKit.ConnectAsync(Server.Options("maxReplyBytes=1024"));

        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => reader.ExecuteAsync("GET", key).Within());

        Assert.Contains("maxReplyBytes", error.Message, StringComparison.Ordinal);
        Assert.False(reader.IsOpen);
    }

    [Fact]
    public async Task Keys_and_values_are_binary_safe()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Options());
        var every = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        byte[] key = [.. "bin:"u8, .. Guid.NewGuid().ToByteArray(), 0, 13, 10, (byte)'$', (byte)'*'];
        byte[] value = [.. every, .. "\r\n$-1\r\n*2\r\n"u8, .. every];

        await redis.ExecuteAsync("SET", key, value).Within();
        var reply = await redis.ExecuteAsync("GET", key).Within();

        Assert.Equal(value, reply.AsBytes().ToArray());
        Assert.Equal("k\u00e9y \u2603 \U0001F600", (await redis.ExecuteAsync("ECHO", "k\u00e9y \u2603 \U0001F600").Within()).AsString());
    }

    [Fact]
    public async Task Ten_thousand_concurrent_INCRs_on_one_connection_count_exactly_ten_thousand()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Options());
        var key = RedisTestKit.NewKey("counter");

        var replies = await Task.WhenAll(Enumerable.Range(0, 10_000).Select(_ => Task.Run(() => redis.ExecuteAsync("INCR", key)))).Within();

        Assert.Equal(10_000, (await redis.ExecuteAsync("GET", key).Within()).AsInt64());
        // Every reply went to its own command: each value from 1 to 10,000 was handed out once.
        Assert.Equal(Enumerable.Range(1, 10_000).Select(i => (long)i), replies.Select(r => r.AsInt64()).Order());
    }

    [Fact]
    public async Task Error_replies_fail_only_their_own_command_in_a_pipeline()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Options());
        var list = RedisTestKit.NewKey("list");
        await redis.ExecuteAsync("RPUSH", list, "a").Within();

        var first = redis.ExecuteAsync("PING");
        var wrongType = redis.ExecuteAsync("INCR", list);
        var second = redis.ExecuteAsync("ECHO", "after");
        var unknown = redis.ExecuteAsync("NOSUCHCOMMAND", 1);
        var third = redis.ExecuteAsync("LLEN", list);

        Assert.Equal("PONG", (await first.Within()).AsString());
        var error = await Assert.ThrowsAsync<RedisServerException>(() => wrongType.Within());
        Assert.Equal("WRONGTYPE", error.ErrorCode);
        Assert.StartsWith("WRONGTYPE Operation against a key holding the wrong kind of value", error.Message, StringComparison.Ordinal);
        Assert.Equal("after", (await second.Within()).AsString());
        Assert.StartsWith("ERR unknown command", (await Assert.ThrowsAsync<RedisServerException>(() => unknown.Within())).Message, StringComparison.Ordinal);
        Assert.Equal(1, (await third.Within()).AsInt64());
    }

    [Fact]
    public async Task DefaultDatabase_selects_the_database_and_name_sets_the_client_name()
    {
        var key = RedisTestKit.NewKey();
        await using var db3 = await RedisTestKit.ConnectAsync(Server.Options("defaultDatabase=3,name=collabhub-test"));
        await using var db0 = await RedisTestKit.ConnectAsync(Server.Options());

        await db3.ExecuteAsync("SET", key, "in three").Within();

        Assert.True((await db0.ExecuteAsync("GET", key).Within()).IsNull);
        Assert.Equal("in three", (await db3.ExecuteAsync("GET", key).Within()).AsString());
        Assert.Equal("collabhub-test", (await db3.ExecuteAsync("CLIENT", "GETNAME").Within()).AsString());
        var clientInfo = (await db3.ExecuteAsync("CLIENT", "INFO").Within()).AsString()!;
        Assert.Contains(" db=3 ", clientInfo, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_that_does_not_exist_fails_the_connect_with_Redis_s_reason()
    {
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(Server.Options("defaultDatabase=999")));
        Assert.Contains("SELECT 999", error.Message, StringComparison.Ordinal);
        Assert.Contains("DB index is out of range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_the_server_drops_the_connection_every_pending_command_fails_with_a_connection_error()
    {
        await using var redis = await RedisTestKit.ConnectAsync(Server.Options("name=victim"));
        await using var admin = await RedisTestKit.ConnectAsync(Server.Options());
        var id = (await redis.ExecuteAsync("CLIENT", "ID").Within()).AsInt64();

        // BLPOP holds the connection; what is pipelined behind it waits too.
        var blocked = redis.ExecuteAsync("BLPOP", RedisTestKit.NewKey("empty"), 30);
        var behind = Enumerable.Range(0, 10).Select(_ => redis.ExecuteAsync("PING")).ToArray();
        await RedisTestKit.WaitUntilAsync(() => ClientIsBlocked(admin, id), "BLPOP to block");
        Assert.Equal(1, (await admin.ExecuteAsync("CLIENT", "KILL", "ID", id).Within()).AsInt64());

        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => blocked.Within());
        Assert.Contains("may or may not have carried it out", error.Message, StringComparison.Ordinal);
        foreach (var ping in behind)
        {
            await Assert.ThrowsAsync<RedisConnectionException>(() => ping.Within());
        }
        await redis.Closed.Within();
        Assert.False(redis.IsOpen);
        // And what is sent afterwards fails at once rather than waiting for a connection that will not return.
        var late = redis.ExecuteAsync("PING");
        Assert.True(late.IsFaulted);
        await Assert.ThrowsAsync<RedisConnectionException>(() => late);
    }

    [Fact]
    public async Task Endpoints_are_tried_in_order_until_one_answers()
    {
        int closedPort;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            closedPort = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        var options = RedisConnectionOptions.Parse($"127.0.0.1:{closedPort},127.0.0.1:{Server.Port}");

        await using var redis = await RedisTestKit.ConnectAsync(options);

        Assert.Equal("PONG", (await redis.ExecuteAsync("PING").Within()).AsString());
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(RedisConnectionOptions.Parse($"127.0.0.1:{closedPort}")));
        Assert.Contains($"127.0.0.1:{closedPort}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_accepts_but_never_answers_fails_the_connect_within_the_connect_timeout()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var started = DateTime.UtcNow;

        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(RedisConnectionOptions.Parse($"127.0.0.1:{port},connectTimeout=300")));

        Assert.Contains("did not answer the handshake within 300 ms", error.Message, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    internal static async Task<bool> ClientIsBlocked(RedisConnection admin, long id)
    {
        var list = (await admin.ExecuteAsync("CLIENT", "LIST", "ID", id).Within()).AsString()!;
        return list.Contains("cmd=blpop", StringComparison.Ordinal) && list.Contains("flags=b", StringComparison.Ordinal);
    }

    private static async Task AssertEveryReplyTypeAsync(RedisConnection redis)
    {
        var key = RedisTestKit.NewKey();
        var list = RedisTestKit.NewKey("list");

        // +simple string
        var ok = await redis.ExecuteAsync("SET", key, "value").Within();
        Assert.Equal(RespType.SimpleString, ok.Type);
        Assert.Equal("OK", ok.AsString());
        // -error
        var error = await Assert.ThrowsAsync<RedisServerException>(() => redis.ExecuteAsync("GET").Within());
        Assert.Equal("ERR wrong number of arguments for 'get' command", error.Message);
        // :integer
        var length = await redis.ExecuteAsync("RPUSH", list, "a", "b", "c").Within();
        Assert.Equal(RespType.Integer, length.Type);
        Assert.Equal(3, length.AsInt64());
        // $bulk string
        var value = await redis.ExecuteAsync("GET", key).Within();
        Assert.Equal(RespType.BulkString, value.Type);
        Assert.Equal("value", value.AsString());
        // $-1 null bulk string
        var missing = await redis.ExecuteAsync("GET", RedisTestKit.NewKey("missing")).Within();
        Assert.Equal(RespType.BulkString, missing.Type);
        Assert.True(missing.IsNull);
        // $0 empty bulk string
        await redis.ExecuteAsync("SET", key, "").Within();
        var empty = await redis.ExecuteAsync("GET", key).Within();
        Assert.False(empty.IsNull);
        Assert.Equal("", empty.AsString());
        // *array
        var items = await redis.ExecuteAsync("LRANGE", list, 0, -1).Within();
        Assert.Equal(["a", "b", "c"], items.AsArray().Select(i => i.AsString()));
        // *0 empty array
        var none = await redis.ExecuteAsync("LRANGE", RedisTestKit.NewKey("missing"), 0, -1).Within();
        Assert.Equal(RespType.Array, none.Type);
        Assert.Empty(none.AsArray());
        // *-1 null array: a blocking pop that times out
        var timedOut = await redis.ExecuteAsync("BLPOP", RedisTestKit.NewKey("missing"), "0.01").Within();
        Assert.Equal(RespType.Array, timedOut.Type);
        Assert.True(timedOut.IsNull);
        // nested arrays, with every type inside, from a Lua table
        var nested = await redis.ExecuteAsync("EVAL",
            "return {1, 'two', {3, {'four', {}}, redis.status_reply('FIVE')}, redis.error_reply('SIX went wrong'), false}", 0).Within();
        Assert.Equal("[(integer) 1, \"two\", [(integer) 3, [\"four\", []], FIVE], (error) SIX went wrong, (nil)]", nested.ToString());
        var inner = nested.AsArray()[2].AsArray();
        Assert.Equal(RespType.SimpleString, inner[2].Type);
        Assert.True(nested.AsArray()[3].IsError);
        Assert.True(nested.AsArray()[4].IsNull);
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }
}
