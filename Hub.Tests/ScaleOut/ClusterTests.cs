using System.Net;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ScaleOut;

/// <summary>
/// Several real Hub.Server processes, one SQLite file and one real redis-server: they behave as one hub, and they
/// ride out Redis restarts and instance crashes.
/// </summary>
public sealed class ClusterTests : IAsyncLifetime
{
    private readonly HubCluster _cluster = new();

    public Task InitializeAsync() => _cluster.StartRedisAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    /// <summary>Two instances on the one Redis, under <paramref name="backplaneProvider"/>.</summary>
    private async Task<(HubServerProcess First, HubServerProcess Second)> StartTwoAsync(string backplaneProvider = "CollabHub")
    {
        var settings = new Dictionary<string, string>(TestSettings.Small)
        {
            ["CollabHub:Backplane:Provider"] = backplaneProvider,
            ["CollabHub:Redis"] = _cluster.Redis.ConnectionString,
            ["CollabHub:RedisPrefix"] = "cluster-test",
            ["CollabHub:Presence:HeartbeatInterval"] = "00:00:00.500",
            ["CollabHub:Presence:InstanceExpiry"] = "00:00:02",
        };
        return (await _cluster.StartServerAsync(settings), await _cluster.StartServerAsync(settings));
    }

    /// <summary>Two instances, ada connected to the first and bob to the second.</summary>
    private async Task<(HubServerProcess First, HubServerProcess Second, CollabConnection Ada, CollabConnection Bob)> StartWithAdaAndBobAsync(string backplaneProvider = "CollabHub")
    {
        var (first, second) = await StartTwoAsync(backplaneProvider);
        return (first, second, await _cluster.OpenConnectionAsync(first, "ada"), await _cluster.OpenConnectionAsync(second, "bob"));
    }

    /// <summary>Presence lives in Redis beside the backplane: the same under both providers.</summary>
    [Theory]
    [InlineData("CollabHub")]
    [InlineData("SignalR")]
    public async Task A_change_on_one_instance_reaches_a_client_on_another_with_presence_across_both(string backplaneProvider)
    {
        var (_, _, ada, bob) = await StartWithAdaAndBobAsync(backplaneProvider);
        var adaEvents = new EventLog(ada);
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();

        await ada.JoinAsync(room).Within();
        var joined = await bob.JoinAsync(room).Within();
        await ada.SetAsync(room, "title", "from ada").Within();
        await bob.PostAsync(room, "from bob").Within();

        Assert.Equal(["ada", "bob"], joined.Presence.Select(p => p.UserId));
        await adaEvents.WaitUntilAsync(l => l.Presence(room).Any(p => p.Count == 2), "bob's presence on ada's instance");
        await bobEvents.WaitUntilAsync(l => l.Changes(room).Any(), "ada's change on bob's instance");
        await adaEvents.WaitUntilAsync(l => l.Posts(room).Any(), "bob's post on ada's instance");
        Assert.Equal("from ada", bobEvents.Changes(room).Single().Value!.Value.GetString());
    }

    [Fact]
    public async Task Two_hundred_concurrent_writes_from_two_instances_to_one_room_stay_gapless_and_exactly_once()
    {
        var (first, second) = await StartTwoAsync();
        var writers = new[]
        {
            await _cluster.OpenConnectionAsync(first, "w1"), await _cluster.OpenConnectionAsync(second, "w2"),
            await _cluster.OpenConnectionAsync(first, "w3"), await _cluster.OpenConnectionAsync(second, "w4"),
        };
        var watchers = new[] { await _cluster.OpenConnectionAsync(first, "watch1"), await _cluster.OpenConnectionAsync(second, "watch2") };
        var logs = watchers.Select(w => new EventLog(w)).ToArray();
        var room = TestClients.NewRoom();
        foreach (var client in writers.Concat(watchers))
        {
            await client.JoinAsync(room).Within();
        }

        var writes = writers.SelectMany((writer, w) => Enumerable.Range(0, 50).Select(i =>
            writer.SetAsync(room, $"k{i % 7}", w * 100 + i, new($"m-{w}-{i}")))).ToList();
        var results = await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(60));
        // The same mutations again, each through the other instance's client of the same user is not possible
        // (ids are per user), so each writer retries its own: all duplicates, nothing applied twice.
        var retries = await Task.WhenAll(writers.Select((writer, w) => writer.SetAsync(room, "k0", -1, new($"m-{w}-0")))).Within();

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), results.Select(r => r.Seq).Order());
        Assert.All(retries, r => Assert.True(r.Duplicate));
        foreach (var log in logs)
        {
            await log.WaitUntilAsync(l => l.Changes(room).Count() >= 200, "all 200 changes on every instance");
            Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), log.Changes(room).Select(c => c.Version).Order());
        }
        Assert.Equal(200, (await watchers[1].SyncAllAsync(room)).Seq);
    }

    [Fact]
    public async Task Instances_keep_serving_while_Redis_is_down_and_heal_by_themselves_when_it_returns()
    {
        var (first, second, ada, bob) = await StartWithAdaAndBobAsync();
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        await ada.SetAsync(room, "before", 1).Within();
        await bobEvents.WaitUntilAsync(l => l.Changes(room).Any(), "the change before the outage");

        _cluster.Redis.Kill();
        var duringOutage = new List<WriteResult>();
        for (var i = 0; i < 20; i++)
        {
            duringOutage.Add(await ada.SetAsync(room, $"during{i % 3}", i).Within());
            await bob.PostAsync(room, $"bob during {i}").Within();
        }
        Assert.All(duringOutage, r => Assert.True(r.Applied));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync(new Uri(first.BaseUrl, "/readyz"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(first.BaseUrl, "/healthz"))).StatusCode);

        await _cluster.Redis.RestartAsync();
        await WaitUntilReadyAsync(http, first);
        await WaitUntilReadyAsync(http, second);
        var after = await ada.SetAsync(room, "after", true).Within();
        await bobEvents.WaitUntilAsync(l => l.Changes(room).Any(c => c.Version == after.Seq), "a change after Redis returned");

        // What bob missed while Redis was down, Sync brings: both views equal the store.
        var bobView = await bob.SyncAllAsync(room);
        var adaView = await ada.SyncAllAsync(room);
        Assert.Equal(after.Seq, bobView.Seq);
        Assert.Equal(adaView.Entries.Values.Select(e => (e.Key, e.Version)), bobView.Entries.Values.Select(e => (e.Key, e.Version)));
        Assert.Equal(20, bobView.Messages.Count);
    }

    private static async Task WaitUntilReadyAsync(HttpClient http, HubServerProcess server)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await http.GetAsync(new Uri(server.BaseUrl, "/readyz"))).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, $"instance at {server.BaseUrl} did not become ready again after Redis returned");
            await Task.Delay(200);
        }
    }

    [Theory]
    [InlineData("CollabHub")]
    [InlineData("SignalR")]
    public async Task An_instance_killed_with_SIGKILL_leaves_presence_within_the_expiry(string backplaneProvider)
    {
        var (_, second, ada, bob) = await StartWithAdaAndBobAsync(backplaneProvider);
        var adaEvents = new EventLog(ada);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();
        await adaEvents.WaitUntilAsync(l => l.Presence(room).Any(p => p.Count == 2), "bob present");

        var killedAt = DateTime.UtcNow;
        second.Kill();

        await adaEvents.WaitUntilAsync(l => l.Presence(room).Last() is [{ UserId: "ada" }], "bob leaving presence after his instance died");
        var took = DateTime.UtcNow - killedAt;
        Assert.True(took < TimeSpan.FromSeconds(10), $"took {took.TotalSeconds:0.0} s; expiry is 2 s and heartbeat 0.5 s");
        var rejoined = await ada.JoinAsync(room).Within();
        Assert.Equal(["ada"], rejoined.Presence.Select(p => p.UserId));
    }
}
