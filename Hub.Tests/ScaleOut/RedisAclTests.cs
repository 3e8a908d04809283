using System.Text.Json;
using CollabHub.Tests.Infrastructure;
using CollabHub.Tests.Security;
using StackExchange.Redis;

namespace CollabHub.Tests.ScaleOut;

/// <summary>The ACL user that docs/operations.md gives ("Redis in production") is enough, under both backplane providers.</summary>
public sealed class RedisAclTests
{
    [Theory]
    [InlineData("CollabHub")]
    [InlineData("SignalR")]
    public async Task The_documented_ACL_user_runs_two_instances_with_nothing_refused(string backplaneProvider)
    {
        var documented = File.ReadAllLines(Path.Combine(RepoPaths.Root, "docs", "operations.md"))
            .Select(line => line.Trim())
            .Single(line => line.StartsWith("user collabhub on ", StringComparison.Ordinal))["user ".Length..];
        await using var cluster = new HubCluster();
        var redis = await cluster.StartRedisAsync(new RedisServerSettings { AclUsers = [documented], RequirePass = "admin" });
        var settings = new Dictionary<string, string>(TestSettings.Small)
        {
            ["CollabHub:Redis"] = $"127.0.0.1:{redis.Port},user=collabhub,password=change-me",
            ["CollabHub:Backplane:Provider"] = backplaneProvider,
            // The status figures each instance writes to Redis every heartbeat, soon enough to be read below.
            ["CollabHub:Presence:HeartbeatInterval"] = "00:00:01",
        };
        var first = await cluster.StartServerAsync(settings);
        var second = await cluster.StartServerAsync(settings);
        var ada = await cluster.OpenConnectionAsync(first, "ada");
        var bob = await cluster.OpenConnectionAsync(second, "bob");
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();

        await ada.JoinAsync(room).Within();
        var joined = await bob.JoinAsync(room).Within();
        var write = await ada.SetAsync(room, "title", "hello").Within();
        await bobEvents.WaitUntilAsync(l => l.Changes(room).Any(c => c.Version == write.Seq), "ada's change on bob's instance");

        Assert.Equal(["ada", "bob"], joined.Presence.Select(p => p.UserId)); // presence from the Redis scripts, not the local fallback
        // The status page's figures: the second instance writes its own, the first reads them.
        JsonElement status = default;
        await Eventually.HoldsAsync(async () =>
        {
            status = JsonDocument.Parse(await SecurityClients.Http.GetStringAsync(new Uri(first.BaseUrl, "/status/data")).Within()).RootElement;
            return status.GetProperty("instances").EnumerateArray().Any(i => !i.GetProperty("self").GetBoolean() && i.GetProperty("connections").ValueKind == JsonValueKind.Number);
        }, () => $"the other instance's figures in {status}", TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(250));
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},password=admin").Within();
        var refused = (RedisResult[])(await admin.GetDatabase().ExecuteAsync("ACL", "LOG").Within())!;
        Assert.True(refused.Length == 0, "Redis refused: " + string.Join("; ", refused.Select(entry => string.Join(" ", ((RedisResult[])entry!).Take(8)))));
    }
}
