using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.Http.Connections;

namespace CollabHub.Tests.ClientSdk;

/// <summary>
/// CollabClient's write queue against a real server: writes made offline, answers lost on the way, refusals for now and
/// for good, a full queue, a persisted queue, order, and leaving a room.
/// </summary>
public abstract class WriteQueueTests(ServerFixture fixture, ClientTransport transport) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    /// <summary>This test's clients, proxies and servers of its own (the shared server is the fixture's).</summary>
    private readonly HubCluster _cluster = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    private CollabClient NewClient(Uri hubUrl, string name, Action<CollabClientOptions>? configure = null) =>
        SdkTestKit.NewClient(hubUrl, name, configure, transport);

    private async Task<(CollabClient Client, CollabRoom Room, TcpProxy Proxy, CollabConnection Reader)> ConnectThroughProxyAsync(string name, Action<CollabClientOptions>? configure = null)
    {
        var proxy = _cluster.ProxyTo(fixture.Server);
        var client = _cluster.Track(NewClient(proxy.Url(fixture.Server.HubUrl), name, configure));
        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();
        var reader = _cluster.Track(await fixture.ConnectAsync("reader"));
        await reader.JoinAsync(room.RoomId).Within();
        return (client, room, proxy, reader);
    }

    [Fact]
    public async Task Writes_made_while_disconnected_are_queued_counted_and_each_applied_once_after_the_reconnect()
    {
        var (client, room, proxy, reader) = await ConnectThroughProxyAsync("ada");
        await room.SetAsync("gone", 0).Within();
        var log = new ClientLog(client);
        var events = new RoomEvents(room);

        proxy.Block();
        await proxy.CutAllAsync().Within();
        await log.WaitForStateAsync(CollabClientState.Reconnecting);
        var writes = new List<Task>
        {
            room.SetAsync("title", "offline 1"),
            room.SetAsync("title", "offline 2"),
            room.DeleteAsync("gone"),
            room.PostAsync("posted offline"),
            room.SetAsync("n", 5),
        };
        await Task.Delay(300);

        Assert.Equal(5, client.PendingWrites);
        Assert.Equal([1, 2, 3, 4, 5], log.PendingCounts);
        Assert.All(writes, w => Assert.False(w.IsCompleted));
        Assert.Equal(1, (await reader.SyncAsync(room.RoomId, 0).Within()).Seq);

        proxy.Unblock();
        await Task.WhenAll(writes).Within();

        Assert.Equal(0, client.PendingWrites);
        // The count's events are raised by the notifier, which may run just after the tasks completed.
        await SdkTestKit.WaitUntilAsync(() => log.PendingCounts.Count >= 10, "the pending count's events");
        Assert.Equal([4, 3, 2, 1, 0], log.PendingCounts.Skip(5));
        var store = await reader.SyncAllAsync(room.RoomId);
        Assert.Equal(6, store.Seq);
        Assert.Equal("offline 2", store.Entries["title"].Value!.Value.GetString());
        Assert.True(store.Entries["gone"].Deleted);
        Assert.Equal(["posted offline"], store.Messages.Select(m => m.Body.GetString()));
        await SdkTestKit.WaitUntilConvergedAsync(room, reader);
        events.AssertGaplessAndOnce();
    }

    [Fact]
    public async Task A_write_whose_answer_was_lost_is_sent_again_with_its_mutation_id_and_reported_once_as_a_duplicate()
    {
        var (client, room, proxy, reader) = await ConnectThroughProxyAsync("ada");

        proxy.HoldDownstream();
        var write = room.SetAsync("title", "once");
        var post = room.PostAsync("once too");
        // Over WebSockets both writes reach the server. Over long polling and SSE the client sends with HTTP POSTs and
        // awaits each one's answer before the next, so when the two writes left in separate POSTs the post waits behind
        // the held answer and reaches the server only after the reconnect: then it is new there, not a duplicate.
        await SdkTestKit.WaitUntilAsync(async () => (await reader.SyncAsync(room.RoomId, 0)).Seq >= 1, "the first write committed");
        var bothCommitted = false;
        try
        {
            await SdkTestKit.WaitUntilAsync(async () => (await reader.SyncAsync(room.RoomId, 0)).Seq == 2, "both writes committed", TimeSpan.FromSeconds(2));
            bothCommitted = true;
        }
        catch (TimeoutException) when (transport.Transports is not HttpTransportType.WebSockets)
        {
        }
        await proxy.CutAllAsync().Within();
        proxy.ReleaseDownstream();

        var result = await write.Within();
        var posted = await post.Within();

        Assert.True(result.Applied);
        Assert.True(result.Duplicate);
        Assert.Equal(1, result.Seq);
        Assert.Equal(bothCommitted, posted.Duplicate);
        Assert.Equal(2, posted.Seq);
        var store = await reader.SyncAllAsync(room.RoomId);
        Assert.Equal(2, store.Seq);
        Assert.Single(store.Messages);
        await SdkTestKit.WaitUntilConvergedAsync(room, reader);
        Assert.Equal("once", room.Text("title"));
    }

    [Fact]
    public async Task A_full_queue_fails_the_next_write_at_once_with_queue_full()
    {
        await using var client = NewClient(fixture.Server.HubUrl, "ada", o => o.MaxQueuedWrites = 3);
        var room = client.OpenRoom(TestClients.NewRoom());
        var queued = new Task[] { room.SetAsync("a", 1), room.SetAsync("b", 2), room.PostAsync("c") };

        var full = await Assert.ThrowsAsync<CollabHubException>(() => room.SetAsync("d", 4).Within());
        var fullPost = await Assert.ThrowsAsync<CollabHubException>(() => room.PostAsync("e").Within());

        Assert.Equal(ErrorCodes.QueueFull, full.Code);
        Assert.Equal(ErrorCodes.QueueFull, fullPost.Code);
        Assert.StartsWith("queue_full: ", full.Message);
        Assert.Equal(3, client.PendingWrites);
        Assert.Null(room.Get("d"));

        await client.StartAsync().Within();
        await Task.WhenAll(queued).Within();
        Assert.Equal(0, client.PendingWrites);
        Assert.True((await room.SetAsync("d", 4).Within()).Applied);
    }

    [Fact]
    public async Task A_permanent_refusal_fails_only_that_write_and_a_conflict_is_a_result()
    {
        await using var client = NewClient(fixture.Server.HubUrl, "ada");
        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();
        var first = await room.SetAsync("k", 1).Within();

        var badKey = room.SetAsync("bad\u0001key", 1);
        var tooLargeForServer = room.SetAsync("big", new string('x', TestSettings.MaxValueBytes + 10));
        var conflict = room.SetAsync("k", 2, new WriteOptions(ExpectedVersion: first.Seq + 100));
        var after = room.SetAsync("k", 3, new WriteOptions(ExpectedVersion: first.Seq));

        Assert.Equal(ErrorCodes.InvalidKey, (await Assert.ThrowsAsync<CollabHubException>(() => badKey.Within())).Code);
        Assert.Equal(ErrorCodes.TooLarge, (await Assert.ThrowsAsync<CollabHubException>(() => tooLargeForServer.Within())).Code);
        var refused = await conflict.Within();
        Assert.True(refused.Conflict);
        Assert.False(refused.Applied);
        Assert.Equal(first.Seq, refused.Entry!.Version);
        Assert.True((await after.Within()).Applied);

        // Too large for any server: refused before it is queued, since the server would close the connection for it.
        var huge = await Assert.ThrowsAsync<CollabHubException>(() => room.SetAsync("huge", new string('x', CollabClientOptions.DefaultMaxValueBytes)).Within());
        Assert.Equal(ErrorCodes.TooLarge, huge.Code);
        Assert.Equal(0, client.PendingWrites);
        Assert.Equal(3, room.GetValue<int>("k"));
    }

    [Fact]
    public async Task Writes_to_one_key_and_posts_to_one_room_are_applied_in_the_order_they_were_made()
    {
        await using var client = NewClient(fixture.Server.HubUrl, "ada");
        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();

        var writes = new List<Task<WriteResult>>();
        var posts = new List<Task<PostResult>>();
        for (var i = 0; i < 40; i++)
        {
            writes.Add(room.SetAsync($"k{i % 4}", i));
            posts.Add(room.PostAsync($"m{i}"));
        }
        var results = await Task.WhenAll(writes).Within();
        var posted = await Task.WhenAll(posts).Within();

        for (var k = 0; k < 4; k++)
        {
            var seqs = results.Where((_, i) => i % 4 == k).Select(r => r.Seq).ToList();
            Assert.Equal(seqs.Order(), seqs);
            Assert.Equal(36 + k, room.GetValue<int>($"k{k}"));
        }
        Assert.Equal(posted.Select(p => p.Seq).Order(), posted.Select(p => p.Seq));
        await SdkTestKit.WaitUntilAsync(() => room.Seq == 80, "all 80 positions applied");
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"m{i}"), room.Messages.Select(m => m.Body.GetString()));
    }

    [Fact]
    public async Task A_write_refused_for_now_is_retried_with_its_mutation_id_until_it_is_applied()
    {
        var server = await _cluster.StartServerAsync(new Dictionary<string, string>(TestSettings.Small)
        {
            ["CollabHub:Limits:Rates:WritesPerSecond"] = "10",
            ["CollabHub:Limits:Rates:WriteBurst"] = "3",
        });
        var logs = new LogCollector();
        await using var client = NewClient(server.HubUrl, "ada", o => o.LoggerFactory = logs);
        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();

        var writes = Enumerable.Range(0, 12).Select(i => room.SetAsync($"k{i % 3}", i)).ToList();
        var results = await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Contains(logs.Entries, e => e.Id.Id == 7 && e.Message.Contains("(rate_limited)", StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), results.Select(r => r.Seq).Order());
        Assert.Equal([9, 10, 11], Enumerable.Range(0, 3).Select(k => room.GetValue<int>($"k{k}")));
        await using var reader = await TestClients.OpenConnectionAsync(server.HubUrl, "reader");
        await reader.JoinAsync(room.RoomId).Within();
        Assert.Equal(12, (await reader.SyncAllAsync(room.RoomId)).Seq);
    }

    [Fact]
    public async Task The_offline_queue_file_survives_a_client_restart_and_the_next_client_sends_its_writes_once()
    {
        var queueFile = _cluster.File("queue.json");
        var roomId = TestClients.NewRoom();
        var proxy = _cluster.ProxyTo(fixture.Server);
        proxy.Block();

        await using (var first = NewClient(proxy.Url(fixture.Server.HubUrl), "ada", o => o.OfflineQueuePath = queueFile))
        {
            first.Start();
            var room = first.OpenRoom(roomId);
            _ = room.SetAsync("title", JsonSerializer.SerializeToElement(new { text = "from the first run" }));
            _ = room.DeleteAsync("nothing");
            _ = room.PostAsync("hello");
            Assert.Throws<InvalidOperationException>(() => NewClient(fixture.Server.HubUrl, "ada", o => o.OfflineQueuePath = queueFile));
        }
        Assert.Equal(3, JsonDocument.Parse(await File.ReadAllTextAsync(queueFile)).RootElement.GetProperty("writes").GetArrayLength());

        proxy.Unblock();
        await using var second = NewClient(fixture.Server.HubUrl, "ada", o => o.OfflineQueuePath = queueFile);
        Assert.Equal(3, second.PendingWrites);
        Assert.Equal([roomId], second.Rooms.Select(r => r.RoomId));
        Assert.Equal("from the first run", second.GetRoom(roomId)!.Get("title")!.Value!.Value.GetProperty("text").GetString());
        await second.StartAsync().Within();
        await SdkTestKit.WaitUntilAsync(() => second.PendingWrites == 0, "the loaded writes answered");

        // The room was opened for the loaded writes only: it is left once they are answered.
        await SdkTestKit.WaitUntilAsync(() => second.Rooms.Count == 0, "the room left");
        await using var reader = await fixture.ConnectAsync("reader");
        await reader.JoinAsync(roomId).Within();
        var store = await reader.SyncAllAsync(roomId);
        Assert.Equal(2, store.Seq); // the set and the post; the delete of a missing key changes nothing
        await SdkTestKit.WaitUntilAsync(
            () => JsonDocument.Parse(File.ReadAllText(queueFile)).RootElement.GetProperty("writes").GetArrayLength() == 0,
            "the answered writes gone from the file");
    }

    [Fact]
    public async Task Writes_loaded_again_after_they_were_applied_are_answered_as_duplicates_and_not_applied_twice()
    {
        var queueFile = _cluster.File("queue.json");
        var roomId = TestClients.NewRoom();
        var proxy = _cluster.ProxyTo(fixture.Server);
        await using (var first = NewClient(proxy.Url(fixture.Server.HubUrl), "ada", o => o.OfflineQueuePath = queueFile))
        {
            await first.StartAsync().Within();
            var room = await first.JoinAsync(roomId).Within();
            // The answer never arrives: as if the app died right after the server committed.
            proxy.HoldDownstream();
            _ = room.SetAsync("k", 1);
            await using var reader = await fixture.ConnectAsync("reader");
            await reader.JoinAsync(roomId).Within();
            await SdkTestKit.WaitUntilAsync(async () => (await reader.SyncAsync(roomId, 0)).Seq == 1, "the write committed");
            await proxy.CutAllAsync().Within();
        }
        Assert.Contains("\"k\"", await File.ReadAllTextAsync(queueFile), StringComparison.Ordinal);

        await using var second = NewClient(fixture.Server.HubUrl, "ada", o => o.OfflineQueuePath = queueFile);
        Assert.Equal(1, second.PendingWrites);
        await second.StartAsync().Within();
        var secondRoom = await second.JoinAsync(roomId).Within();
        await SdkTestKit.WaitUntilAsync(() => second.PendingWrites == 0, "the loaded write answered");

        await using var check = await fixture.ConnectAsync("reader");
        await check.JoinAsync(roomId).Within();
        Assert.Equal(1, (await check.SyncAllAsync(roomId)).Seq);
        await SdkTestKit.WaitUntilConvergedAsync(secondRoom, check);
        Assert.Equal(1, secondRoom.GetValue<int>("k"));
    }

    [Fact]
    public async Task Leaving_a_room_sends_its_queued_writes_first_and_refuses_new_ones()
    {
        var proxy = _cluster.ProxyTo(fixture.Server);
        await using var client = NewClient(proxy.Url(fixture.Server.HubUrl), "ada");
        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();
        await using var reader = await fixture.ConnectAsync("reader");
        await reader.JoinAsync(room.RoomId).Within();
        var readerEvents = new EventLog(reader);

        proxy.Block();
        await proxy.CutAllAsync().Within();
        // A cut long-polling connection ends on the server only when SignalR's disconnect timeout (15 s) finds no poll.
        await readerEvents.WaitUntilAsync(l => l.Presence(room.RoomId).Any(p => p.All(m => m.UserId == "reader")), "ada's connection gone", TimeSpan.FromSeconds(45));
        var write = room.SetAsync("last", "words");
        var leaving = room.LeaveAsync();
        var refused = await Assert.ThrowsAsync<CollabHubException>(() => room.SetAsync("too", "late").Within());
        Assert.Equal(ErrorCodes.NotJoined, refused.Code);
        Assert.False(leaving.IsCompleted);

        proxy.Unblock();
        await leaving.Within();

        Assert.True((await write.Within()).Applied);
        Assert.Null(client.GetRoom(room.RoomId));
        // Ada came back (to send her write), then left: the reader's presence ends without her.
        await readerEvents.WaitUntilAsync(l => l.Presence(room.RoomId).Last().All(m => m.UserId == "reader"), "ada gone again");
        Assert.Equal(1, (await reader.SyncAllAsync(room.RoomId)).Seq);
        Assert.NotSame(room, client.OpenRoom(room.RoomId));
    }

    [Fact]
    public async Task Offline_a_signal_is_dropped_with_false_and_DiscardPending_cancels_the_queued_writes_rolls_them_back_and_reports_them_settled()
    {
        var (client, room, proxy, reader) = await ConnectThroughProxyAsync("ada");
        Assert.True(await room.SignalAsync(new { x = 1 }).Within());
        var settled = new System.Collections.Concurrent.ConcurrentQueue<SettledWrite>();
        client.Settled += settled.Enqueue;
        var confirmed = await room.SetAsync("k", "confirmed").Within();
        await SdkTestKit.WaitUntilAsync(() => settled.Count == 1, "the set settled");
        Assert.Equal((WriteKind.Set, "k", (object?)confirmed, (CollabHubException?)null), settled.Select(s => (s.Kind, s.Key, s.Result, s.Error)).Single());
        var log = new ClientLog(client);

        proxy.Block();
        await proxy.CutAllAsync().Within();
        await log.WaitForStateAsync(CollabClientState.Reconnecting);
        Assert.False(await room.SignalAsync(new { x = 2 }).Within());
        var set = room.SetAsync("k", "offline");
        var post = room.PostAsync("offline");
        Assert.Equal("offline", room.Text("k"));

        client.DiscardPending();

        Assert.Equal(ErrorCodes.Cancelled, (await Assert.ThrowsAsync<CollabHubException>(() => set.Within())).Code);
        Assert.Equal(ErrorCodes.Cancelled, (await Assert.ThrowsAsync<CollabHubException>(() => post.Within())).Code);
        Assert.Equal(0, client.PendingWrites);
        Assert.Equal("confirmed", room.Text("k"));
        Assert.Equal([(WriteKind.Set, ErrorCodes.Cancelled), (WriteKind.Post, ErrorCodes.Cancelled)], settled.Skip(1).Select(s => (s.Kind, s.Error?.Code)));
        proxy.Unblock();
        await log.WaitForStateAsync(CollabClientState.Connected);
        await SdkTestKit.WaitUntilAsync(() => room.IsSynced, "room rejoined");
        Assert.Equal(1, (await reader.SyncAsync(room.RoomId, 0).Within()).Seq);
    }
}

/// <summary>The write queue on a WebSocket opened without negotiation.</summary>
public sealed class WriteQueueOnDirectWebSocketTests(ServerFixture fixture) : WriteQueueTests(fixture, ClientTransport.DirectWebSockets);

/// <summary>The write queue on a negotiated WebSocket.</summary>
public sealed class WriteQueueOnWebSocketTests(ServerFixture fixture) : WriteQueueTests(fixture, ClientTransport.WebSockets);

/// <summary>The write queue on Server-Sent Events.</summary>
public sealed class WriteQueueOnServerSentEventsTests(ServerFixture fixture) : WriteQueueTests(fixture, ClientTransport.ServerSentEvents);

/// <summary>The write queue on Long Polling.</summary>
public sealed class WriteQueueOnLongPollingTests(ServerFixture fixture) : WriteQueueTests(fixture, ClientTransport.LongPolling);
