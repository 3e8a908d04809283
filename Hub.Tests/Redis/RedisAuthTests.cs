using CollabHub.Server.Backplane.Redis;
using CollabHub.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace CollabHub.Tests.Redis;

/// <summary>AUTH with a password and with an ACL user, and what a wrong one looks like.</summary>
public sealed class RedisAuthTests
{
    [Fact]
    public async Task A_password_protected_server_accepts_the_right_password_and_names_the_problem_otherwise()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings { RequirePass = "open sesame" });

        await using (var redis = await RedisTestKit.ConnectAsync(server.Options()))
        {
            Assert.Equal("PONG", (await redis.ExecuteAsync("PING").Within()).AsString());
        }

        var wrong = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(server.Options("password=open sesam")));
        Assert.Contains("Redis refused the credentials", wrong.Message, StringComparison.Ordinal);
        Assert.Contains("WRONGPASS", wrong.Message, StringComparison.Ordinal);
        Assert.Equal("WRONGPASS", Assert.IsType<RedisServerException>(wrong.InnerException).ErrorCode);

        var none = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(RedisConnectionOptions.Parse($"127.0.0.1:{server.Port}")));
        Assert.Contains("is a password needed?", none.Message, StringComparison.Ordinal);
        Assert.Contains("NOAUTH", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ACL_user_logs_in_with_user_and_password()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings
        {
            AclUsers = ["alice on >wonderland ~* &* +@all", "default off"],
        });
        var endPoint = $"127.0.0.1:{server.Port}";

        await using (var redis = await RedisTestKit.ConnectAsync(RedisConnectionOptions.Parse($"{endPoint},user=alice,password=wonderland")))
        {
            Assert.Equal("alice", (await redis.ExecuteAsync("ACL", "WHOAMI").Within()).AsString());
        }

        var wrong = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(RedisConnectionOptions.Parse($"{endPoint},user=alice,password=looking-glass")));
        Assert.Contains("of user 'alice'", wrong.Message, StringComparison.Ordinal);
        Assert.Contains("WRONGPASS", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_with_a_wrong_password_starts_without_throwing_stays_disconnected_and_logs_why_once()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings { RequirePass = "right" });
        var logger = new RecordingLogger<RedisClient>();
        await using var client = RedisTestKit.NewClient(server.Options("password=wrong,reconnectDelay=5,reconnectMaxDelay=20"), logger: logger);

        await client.StartAsync(CancellationToken.None).Within();
        await RedisTestKit.WaitUntilAsync(() => client.Stats.FailedConnectAttempts >= 5, "several failed attempts");

        Assert.False(client.IsConnected);
        var command = client.ExecuteAsync("PING");
        Assert.True(command.IsFaulted); // fails fast, does not wait for a reconnect
        await Assert.ThrowsAsync<RedisConnectionException>(() => command);
        var warning = Assert.Single(logger.Entries, e => e.Level == LogLevel.Warning);
        Assert.Equal(4002, warning.EventId.Id);
        Assert.Contains("WRONGPASS", warning.Message, StringComparison.Ordinal);
        Assert.Contains("password=*****", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong", warning.Message.Replace("WRONGPASS", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }
}
