using CollabHub.Client;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary>Optimistic apply against a real server: the view shows queued writes, the confirmed replica never does, and refused ones roll back.</summary>
public sealed class OptimisticTests(ServerFixture fixture) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    /// <summary>This test's client, proxy and second connection (the server is the fixture's).</summary>
    private readonly HubCluster _cluster = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    private async Task<(CollabClient Client, CollabRoom Room, TcpProxy Proxy, CollabConnection Bob, ClientLog Log)> OfflineAsync(Action<CollabClientOptions>? configure = null, Func<CollabRoom, Task>? before = null)
    {
        var proxy = _cluster.ProxyTo(fixture.Server);
        var client = _cluster.Track(SdkTestKit.NewClient(proxy.Url(fixture.Server.HubUrl), "ada", configure));
        var log = new ClientLog(client);
        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();
        if (before is not null)
        {
            await before(room);
        }
        var bob = _cluster.Track(await fixture.ConnectAsync("bob"));
        await bob.JoinAsync(room.RoomId).Within();
        proxy.Block();
        await proxy.CutAllAsync().Within();
        await log.WaitForStateAsync(CollabClientState.Reconnecting);
        return (client, room, proxy, bob, log);
    }

    [Fact]
    public async Task A_queued_set_shows_in_the_view_at_once_but_not_in_the_confirmed_replica_and_a_conflict_rolls_it_back()
    {
        var first = 0L;
        var (client, room, proxy, bob, _) = await OfflineAsync(before: async room => first = (await room.SetAsync("k", "v1").Within()).Seq);
        var events = new RoomEvents(room);

        var mine = room.SetAsync("k", "mine", new WriteOptions(ExpectedVersion: first));

        Assert.Equal("mine", room.Text("k"));
        Assert.Equal(0, room.Get("k")!.Version);
        Assert.True(room.IsPending("k"));
        Assert.Equal("v1", room.ConfirmedText("k"));
        Assert.Equal(first, room.GetConfirmed("k")!.Version);
        Assert.Equal(ChangeOrigin.Local, Assert.Single(events.Changes).Origin);

        // Meanwhile bob changes the key: ada's compare-and-set will not match.
        var theirs = await bob.SetAsync(room.RoomId, "k", "theirs").Within();
        proxy.Unblock();
        var result = await mine.Within();

        Assert.True(result.Conflict);
        Assert.False(result.Applied);
        Assert.Equal("theirs", result.Entry!.Value!.Value.GetString());
        await SdkTestKit.WaitUntilAsync(() => room.Seq == theirs.Seq, "bob's write in the replica");
        Assert.Equal("theirs", room.Text("k"));
        Assert.Equal("theirs", room.ConfirmedText("k"));
        Assert.False(room.IsPending("k"));
        Assert.Equal([ChangeOrigin.Local, ChangeOrigin.Rollback], events.Changes.Select(c => c.Origin));
        Assert.Equal(theirs.Seq, events.Changes[^1].Entry!.Version);
        await SdkTestKit.WaitUntilConvergedAsync(room, bob);
    }

    [Fact]
    public async Task A_queued_delete_hides_the_key_and_applied_writes_show_the_servers_entry_without_going_back()
    {
        var (client, room, proxy, bob, _) = await OfflineAsync(before: room => room.SetAsync("gone", "here").Within());
        var events = new RoomEvents(room);

        var delete = room.DeleteAsync("gone");
        var set = room.SetAsync("new", 42);

        Assert.Null(room.Get("gone"));
        Assert.NotNull(room.GetConfirmed("gone"));
        Assert.False(room.Entries.ContainsKey("gone"));
        Assert.Equal(42, room.GetValue<int>("new"));
        Assert.Null(room.GetConfirmed("new"));

        proxy.Unblock();
        var deleted = await delete.Within();
        var written = await set.Within();

        Assert.True(deleted.Applied);
        Assert.Equal(written.Seq, room.Get("new")!.Version);
        await SdkTestKit.WaitUntilConvergedAsync(room, bob);
        Assert.Null(room.GetConfirmed("gone"));
        Assert.Equal(written.Seq, room.GetConfirmed("new")!.Version);
        // The view went from the queued values to the server's entries, never back to what was there before.
        Assert.Equal([("gone", ChangeOrigin.Local, false), ("new", ChangeOrigin.Local, true), ("new", ChangeOrigin.Confirm, true)],
            events.Changes.Select(c => (c.Key, c.Origin, c.Entry is not null)));
    }

    [Fact]
    public async Task Without_optimistic_updates_the_view_is_the_confirmed_replica()
    {
        var (client, room, proxy, bob, _) = await OfflineAsync(o => o.OptimisticUpdates = false);

        var set = room.SetAsync("k", "queued");
        Assert.Null(room.Get("k"));
        Assert.False(room.IsPending("k"));

        proxy.Unblock();
        var result = await set.Within();
        await SdkTestKit.WaitUntilAsync(() => room.Seq == result.Seq, "the write's event");
        Assert.Equal("queued", room.Text("k"));
    }
}
