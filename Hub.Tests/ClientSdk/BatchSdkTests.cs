using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary><see cref="CollabRoom.BatchAsync"/> against a real server: queued like any write, shown and applied whole.</summary>
public sealed class BatchSdkTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static JsonElement J(object value) => JsonSerializer.SerializeToElement(value);

    private static BatchOp[] Move(int x, int y, long? expectedX = null) =>
        [BatchOp.SetOp("n1.x", J(x), expectedX), BatchOp.SetOp("n1.y", J(y)), BatchOp.DeleteOp("n1.text")];

    [Fact]
    public async Task A_batch_shows_whole_in_the_writers_view_at_once_and_other_replicas_apply_its_entries_together()
    {
        await using var ada = SdkTestKit.NewClient(fixture.Server.HubUrl, "ada");
        await using var bob = SdkTestKit.NewClient(fixture.Server.HubUrl, "bob");
        await Task.WhenAll(ada.StartAsync(), bob.StartAsync()).Within();
        var roomId = TestClients.NewRoom();
        var mine = await ada.JoinAsync(roomId).Within();
        var theirs = await bob.JoinAsync(roomId).Within();
        await mine.SetAsync("n1.text", "hi").Within();
        await SdkTestKit.WaitUntilAsync(() => theirs.Seq == 1, "bob at seq 1");
        var bobEvents = new RoomEvents(theirs);
        // What bob's replica holds each time it reports a change: never half a batch.
        var seen = new List<(int? X, int? Y, bool Text)>();
        theirs.Changed += _ => seen.Add((theirs.GetValue<int?>("n1.x"), theirs.GetValue<int?>("n1.y"), theirs.Get("n1.text") is not null));

        var moving = mine.BatchAsync(Move(10, 20));

        Assert.Equal((10, 20, false), (mine.GetValue<int?>("n1.x"), mine.GetValue<int?>("n1.y"), mine.Get("n1.text") is not null));
        var moved = await moving.Within();
        Assert.True(moved is { Applied: true, Seq: 4 });
        await SdkTestKit.WaitUntilAsync(() => theirs.Seq == 4, "bob at seq 4");
        Assert.All(seen, s => Assert.Equal((10, 20, false), s));
        Assert.Equal(3, seen.Count);
        Assert.Equal(new AppliedRange(2, 4, Full: false), Assert.Single(bobEvents.Ranges));
    }

    [Fact]
    public async Task Disposing_the_client_ends_every_unanswered_write_a_batch_too_with_ObjectDisposedException()
    {
        var ada = SdkTestKit.NewClient(fixture.Server.HubUrl, "ada");
        // Never started: every write waits in the queue.
        var room = ada.OpenRoom(TestClients.NewRoom());
        var set = room.SetAsync("k", 1);
        var post = room.PostAsync(J("hello"));
        var batch = room.BatchAsync(Move(1, 2));

        await ada.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => set.Within());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => post.Within());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => batch.Within());
    }

    [Fact]
    public async Task A_batch_queued_offline_goes_once_after_the_reconnect_and_a_conflicting_one_rolls_every_key_back()
    {
        var proxy = TcpProxy.Start(fixture.Server.BaseUrl);
        await using var _ = proxy;
        await using var ada = SdkTestKit.NewClient(proxy.Url(fixture.Server.HubUrl), "ada");
        var log = new ClientLog(ada);
        await ada.StartAsync().Within();
        var room = await ada.JoinAsync(TestClients.NewRoom()).Within();
        var x = (await room.SetAsync("n1.x", 1).Within()).Entry!;
        await using var bob = await fixture.ConnectAsync("bob");
        await bob.JoinAsync(room.RoomId).Within();
        proxy.Block();
        await proxy.CutAllAsync().Within();
        await log.WaitForStateAsync(CollabClientState.Reconnecting);

        var first = room.BatchAsync(Move(5, 6, expectedX: x.Version), "move-1");
        var second = room.BatchAsync(Move(7, 8, expectedX: x.Version));
        Assert.Equal((7, 8), (room.GetValue<int?>("n1.x"), room.GetValue<int?>("n1.y")));
        proxy.Unblock();

        var applied = await first.Within();
        var refused = await second.Within();
        Assert.True(applied is { Applied: true, Duplicate: false });
        Assert.True(refused is { Applied: false, Conflict: true });
        Assert.Equal(applied.Entries[0].Version, Assert.Single(refused.Entries).Version);
        await SdkTestKit.WaitUntilAsync(() => room.Seq == applied.Seq, "the replica at the batch's seq");
        Assert.Equal((5, 6), (room.GetValue<int?>("n1.x"), room.GetValue<int?>("n1.y")));
        Assert.False(room.IsPending("n1.x") || room.IsPending("n1.y") || room.IsPending("n1.text"));
        var (seq, entries, _) = await bob.SyncAllAsync(room.RoomId);
        Assert.Equal(applied.Seq, seq);
        Assert.Equal(5, entries["n1.x"].Value!.Value.GetInt32());
    }

    [Fact]
    public async Task A_batch_in_the_offline_queue_file_survives_a_client_restart_and_is_applied_once()
    {
        using var folder = new TempDirectory();
        var queueFile = folder.File("queue.json");
        var roomId = TestClients.NewRoom();
        await using var proxy = TcpProxy.Start(fixture.Server.BaseUrl);
        proxy.Block();
        await using (var first = SdkTestKit.NewClient(proxy.Url(fixture.Server.HubUrl), "ada", o => o.OfflineQueuePath = queueFile))
        {
            first.Start();
            _ = first.OpenRoom(roomId).BatchAsync(Move(3, 4));
        }

        proxy.Unblock();
        await using var second = SdkTestKit.NewClient(fixture.Server.HubUrl, "ada", o => o.OfflineQueuePath = queueFile);
        Assert.Equal(1, second.PendingWrites);
        Assert.Equal(3, second.GetRoom(roomId)!.GetValue<int?>("n1.x"));
        await second.StartAsync().Within();
        await SdkTestKit.WaitUntilAsync(() => second.PendingWrites == 0, "the loaded batch answered");

        await using var reader = await fixture.ConnectAsync("reader");
        await reader.JoinAsync(roomId).Within();
        var (seq, entries, _) = await reader.SyncAllAsync(roomId);
        Assert.Equal(3, seq);
        Assert.Equal((3, 4, true), (entries["n1.x"].Value!.Value.GetInt32(), entries["n1.y"].Value!.Value.GetInt32(), entries["n1.text"].Deleted));
    }
}
