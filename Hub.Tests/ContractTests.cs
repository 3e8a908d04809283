using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>
/// Every method and event of the v1 contract, through Hub.Client against a real server process, on one transport:
/// run once per transport by the classes at the end of this file.
/// </summary>
public abstract class ContractTests(ServerFixture fixture, ClientTransport transport) : IClassFixture<ServerFixture>
{
    private Task<CollabConnection> ConnectAsync(string name) => fixture.ConnectAsync(name, transport);

    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public async Task Join_of_a_new_room_returns_an_empty_full_snapshot_with_the_caller_present()
    {
        await using var ada = await ConnectAsync("ada");
        var room = TestClients.NewRoom();

        var joined = await ada.JoinAsync(room).Within();

        Assert.Equal(room, joined.RoomId);
        Assert.Equal(0, joined.Seq);
        Assert.True(joined.Full);
        Assert.Empty(joined.Entries);
        Assert.Empty(joined.Messages);
        Assert.False(joined.HasMore);
        var me = Assert.Single(joined.Presence);
        Assert.Equal(("ada", "ada", 1), (me.UserId, me.Name, me.Connections));
    }

    [Fact]
    public async Task Set_commits_with_the_next_seq_and_everyone_in_the_room_sees_Changed()
    {
        await using var ada = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();

        var first = await ada.SetAsync(room, "title", J("""{"text":"Plan","n":1}""")).Within();
        var second = await ada.SetAsync(room, "title", "Plan B").Within();

        Assert.True(first.Applied);
        Assert.False(first.Duplicate);
        Assert.False(first.Conflict);
        Assert.Equal(1, first.Seq);
        Assert.Equal(2, second.Seq);
        Assert.Equal("ada", second.Entry!.By);
        Assert.Equal(2, second.Entry.Version);
        Assert.Equal("Plan B", second.Entry.Value!.Value.GetString());

        await bobEvents.WaitUntilAsync(l => l.Changes(room).Count() == 2, "two Changed events");
        var changes = bobEvents.Changes(room).ToList();
        Assert.Equal([1L, 2L], changes.Select(c => c.Version));
        Assert.Equal("Plan", changes[0].Value!.Value.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Delete_leaves_a_tombstone_that_a_delta_join_carries()
    {
        await using var ada = await ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await ada.SetAsync(room, "a", 1).Within();
        await ada.SetAsync(room, "b", 2).Within();

        var deleted = await ada.DeleteAsync(room, "a").Within();

        Assert.True(deleted.Applied);
        Assert.Equal(3, deleted.Seq);
        Assert.True(deleted.Entry!.Deleted);
        Assert.Null(deleted.Entry.Value);

        var full = await ada.JoinAsync(room).Within();
        Assert.Equal(["b"], full.Entries.Select(e => e.Key));
        var delta = await ada.JoinAsync(room, sinceSeq: 1).Within();
        Assert.False(delta.Full);
        Assert.Equal([("b", false), ("a", true)], delta.Entries.Select(e => (e.Key, e.Deleted)));
        Assert.Equal(3, delta.Seq);
    }

    [Fact]
    public async Task Deleting_a_key_that_is_not_there_changes_nothing()
    {
        await using var ada = await ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();

        var result = await ada.DeleteAsync(room, "ghost").Within();

        Assert.False(result.Applied);
        Assert.False(result.Conflict);
        Assert.Null(result.Entry);
        Assert.Equal(0, (await ada.SyncAsync(room, 0).Within()).Seq);
    }

    [Fact]
    public async Task Post_appends_to_the_log_and_everyone_sees_Posted()
    {
        await using var ada = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();

        var posted = await ada.PostAsync(room, "hello").Within();
        var structured = await bob.PostAsync(room, J("""{"kind":"vote","value":3}""")).Within();

        Assert.Equal(1, posted.Seq);
        Assert.False(posted.Duplicate);
        Assert.Equal("hello", posted.Message.Body.GetString());
        Assert.Equal("ada", posted.Message.By);
        Assert.False(string.IsNullOrEmpty(posted.Message.Id));
        Assert.Equal(2, structured.Seq);
        await bobEvents.WaitUntilAsync(l => l.Posts(room).Count() == 2, "two Posted events");
        Assert.Equal([1L, 2L], bobEvents.Posts(room).Select(m => m.Seq));
    }

    [Fact]
    public async Task Sync_returns_what_changed_after_the_given_seq_in_seq_order()
    {
        await using var ada = await ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await ada.SetAsync(room, "k1", 1).Within();
        await ada.PostAsync(room, "m2").Within();
        await ada.SetAsync(room, "k3", 3).Within();
        await ada.SetAsync(room, "k1", 4).Within();

        var sync = await ada.SyncAsync(room, sinceSeq: 1).Within();

        Assert.Equal(4, sync.Seq);
        Assert.False(sync.HasMore);
        Assert.False(sync.Full);
        Assert.Equal([("k3", 3L), ("k1", 4L)], sync.Entries.Select(e => (e.Key, e.Version)));
        Assert.Equal([2L], sync.Messages.Select(m => m.Seq));
        var none = await ada.SyncAsync(room, sinceSeq: 4).Within();
        Assert.Empty(none.Entries);
        Assert.Empty(none.Messages);
        Assert.Equal(4, none.Seq);
    }

    [Fact]
    public async Task Signal_reaches_the_others_in_the_room_but_not_the_sender_and_is_not_stored()
    {
        await using var ada = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        var adaEvents = new EventLog(ada);
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();

        await ada.SignalAsync(room, J("""{"x":10,"y":20}""")).Within();

        await bobEvents.WaitUntilAsync(l => l.Signals(room).Any(), "a Signaled event");
        var signal = bobEvents.Signals(room).Single();
        Assert.Equal("ada", signal.From);
        Assert.Equal("ada", signal.Name);
        Assert.False(string.IsNullOrEmpty(signal.Tag));
        Assert.Equal(10, signal.Payload.GetProperty("x").GetInt32());
        // A post after the signal is a fence: once bob has it, ada would have had her own signal too.
        await bob.PostAsync(room, "fence").Within();
        await adaEvents.WaitUntilAsync(l => l.Posts(room).Any(), "the fence post");
        Assert.Empty(adaEvents.Signals(room));
        Assert.Equal(1, (await ada.SyncAsync(room, 0).Within()).Seq);
    }

    [Fact]
    public async Task PresenceDelta_follows_joins_and_leaves_and_counts_connections_per_user()
    {
        await using var ada = await ConnectAsync("ada");
        await using var ada2 = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        var adaEvents = new EventLog(ada);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await ada2.JoinAsync(room).Within();

        var joined = await bob.JoinAsync(room).Within();
        Assert.Equal([("ada", 2), ("bob", 1)], joined.Presence.Select(p => (p.UserId, p.Connections)));
        Assert.Equal(2, joined.PresenceCount);
        await adaEvents.WaitUntilAsync(l => l.Presence(room).Any(p => p.Count == 2), "bob's arrival");

        await bob.LeaveAsync(room).Within();
        await adaEvents.WaitUntilAsync(l => l.Presence(room).Last() is [{ UserId: "ada", Connections: 2 }], "bob's leave");

        await ada2.DisposeAsync();
        await adaEvents.WaitUntilAsync(l => l.Presence(room).Last() is [{ UserId: "ada", Connections: 1 }], "the second connection's close");
    }

    [Fact]
    public async Task After_Leave_the_connection_gets_no_more_events_and_cannot_write()
    {
        await using var ada = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();
        var fence = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await ada.JoinAsync(fence).Within();
        await bob.JoinAsync(room).Within();
        await bob.JoinAsync(fence).Within();

        await bob.LeaveAsync(room).Within();
        await ada.SetAsync(room, "after-leave", true).Within();
        await ada.SetAsync(fence, "fence", true).Within();

        await bobEvents.WaitUntilAsync(l => l.Changes(fence).Any(), "the fence change");
        Assert.Empty(bobEvents.Changes(room));
        var error = await Assert.ThrowsAsync<Client.CollabHubException>(() => bob.SetAsync(room, "k", 1).Within());
        Assert.Equal(ErrorCodes.NotJoined, error.Code);
    }

    [Fact]
    public async Task A_client_in_another_room_sees_nothing_of_this_one()
    {
        await using var ada = await ConnectAsync("ada");
        await using var eve = await ConnectAsync("eve");
        var eveEvents = new EventLog(eve);
        var room = TestClients.NewRoom();
        var other = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await ada.JoinAsync(other).Within();
        await eve.JoinAsync(other).Within();

        await ada.SetAsync(room, "secret", "x").Within();
        await ada.PostAsync(room, "secret").Within();
        await ada.SignalAsync(room, J("1")).Within();
        await ada.SetAsync(other, "fence", 1).Within();

        await eveEvents.WaitUntilAsync(l => l.Changes(other).Any(), "the change in eve's room");
        Assert.DoesNotContain(eveEvents.All, e => e.RoomId == room);
    }

    [Fact]
    public async Task Two_clients_writing_at_once_see_every_change_in_seq_order()
    {
        await using var ada = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        await using var watcher = await ConnectAsync("watcher");
        var events = new EventLog(watcher);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();
        await watcher.JoinAsync(room).Within();

        const int each = 50;
        var writes = Enumerable.Range(0, each).Select(i => ada.SetAsync(room, $"a{i % 5}", i))
            .Concat(Enumerable.Range(0, each).Select(i => bob.SetAsync(room, $"b{i % 5}", i)));
        var results = await Task.WhenAll(writes).Within();

        Assert.Equal(Enumerable.Range(1, 2 * each).Select(i => (long)i), results.Select(r => r.Seq).Order());
        await events.WaitUntilAsync(l => l.Changes(room).Count() == 2 * each, "every change");
        Assert.Equal(Enumerable.Range(1, 2 * each).Select(i => (long)i), events.Changes(room).Select(c => c.Version));
    }

    [Fact]
    public async Task Compare_and_set_applies_on_the_expected_version_and_otherwise_returns_the_winner()
    {
        await using var ada = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();

        var created = await ada.SetAsync(room, "doc", "v1", new(ExpectedVersion: 0)).Within();
        var createAgain = await bob.SetAsync(room, "doc", "other", new(ExpectedVersion: 0)).Within();
        var updated = await bob.SetAsync(room, "doc", "v2", new(ExpectedVersion: created.Seq)).Within();
        var stale = await ada.SetAsync(room, "doc", "stale", new(ExpectedVersion: created.Seq)).Within();
        var staleDelete = await ada.DeleteAsync(room, "doc", new(ExpectedVersion: created.Seq)).Within();

        Assert.True(created.Applied);
        Assert.True(createAgain.Conflict);
        Assert.False(createAgain.Applied);
        Assert.Equal("v1", createAgain.Entry!.Value!.Value.GetString());
        Assert.True(updated.Applied);
        Assert.True(stale.Conflict);
        Assert.Equal(("v2", updated.Seq, "bob"), (stale.Entry!.Value!.Value.GetString(), stale.Entry.Version, stale.Entry.By));
        Assert.Equal(updated.Seq, stale.Seq);
        Assert.True(staleDelete.Conflict);
        // Nothing was stored by the conflicts: the room's seq moved only for the two applied writes.
        Assert.Equal(2, (await ada.SyncAsync(room, 0).Within()).Seq);

        var deleted = await bob.DeleteAsync(room, "doc", new(ExpectedVersion: updated.Seq)).Within();
        var recreated = await ada.SetAsync(room, "doc", "again", new(ExpectedVersion: 0)).Within();
        Assert.True(deleted.Applied);
        Assert.True(recreated.Applied);
    }

    [Fact]
    public async Task A_retried_mutation_returns_the_first_result_marked_duplicate_and_is_applied_once()
    {
        await using var ada = await ConnectAsync("ada");
        await using var bob = await ConnectAsync("bob");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();
        var mutation = Guid.NewGuid().ToString();

        var first = await ada.SetAsync(room, "k", "first", new(mutation)).Within();
        await bob.SetAsync(room, "k", "bob's").Within();
        var retry = await ada.SetAsync(room, "k", "first", new(mutation)).Within();
        var postId = Guid.NewGuid().ToString();
        var post = await ada.PostAsync(room, "once", postId).Within();
        var postRetry = await ada.PostAsync(room, "once", postId).Within();
        // Mutation ids are per user: bob may use the same one.
        var bobsOwn = await bob.SetAsync(room, "other", 1, new(mutation)).Within();

        Assert.False(first.Duplicate);
        Assert.True(retry.Duplicate);
        Assert.Equal(first with { Duplicate = true }, retry with { Entry = first.Entry });
        Assert.Equal(first.Entry!.Version, retry.Entry!.Version);
        Assert.True(postRetry.Duplicate);
        Assert.Equal(post.Seq, postRetry.Seq);
        Assert.Equal(post.Message.Id, postRetry.Message.Id);
        Assert.True(bobsOwn.Applied);
        Assert.False(bobsOwn.Duplicate);

        var all = await ada.SyncAsync(room, 0).Within();
        Assert.Equal(4, all.Seq);
        Assert.Single(all.Messages);
        Assert.Equal("bob's", all.Entries.Single(e => e.Key == "k").Value!.Value.GetString());
    }

    [Fact]
    public async Task A_mutation_id_reused_for_another_operation_is_refused()
    {
        await using var ada = await ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        var mutation = Guid.NewGuid().ToString();
        await ada.SetAsync(room, "k", 1, new(mutation)).Within();

        var error = await Assert.ThrowsAsync<Client.CollabHubException>(() => ada.PostAsync(room, "x", mutation).Within());

        Assert.Equal(ErrorCodes.MutationReused, error.Code);
        Assert.Equal(1, (await ada.SyncAsync(room, 0).Within()).Seq);
    }

    [Fact]
    public async Task A_delta_join_returns_only_what_changed_and_a_full_join_the_live_state()
    {
        await using var ada = await ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        for (var i = 1; i <= 6; i++)
        {
            await ada.SetAsync(room, $"k{i}", i).Within();
        }
        await ada.PostAsync(room, "m7").Within();

        var delta = await ada.JoinAsync(room, sinceSeq: 4).Within();
        var full = await ada.JoinAsync(room).Within();
        var ahead = await ada.JoinAsync(room, sinceSeq: 1000).Within();

        Assert.False(delta.Full);
        Assert.Equal(["k5", "k6"], delta.Entries.Select(e => e.Key));
        Assert.Equal([7L], delta.Messages.Select(m => m.Seq));
        Assert.Equal(7, delta.Seq);
        Assert.True(full.Full);
        Assert.Equal(6, full.Entries.Count);
        Assert.Single(full.Messages);
        Assert.True(ahead.Full);
    }

    [Fact]
    public async Task Join_and_Sync_page_by_the_configured_limit_until_hasMore_is_false()
    {
        await using var ada = await ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        const int total = TestSettings.MaxPageItems * 2 + 5;
        for (var i = 0; i < total; i++)
        {
            var write = i % 3 == 0 ? (Task)ada.PostAsync(room, $"m{i}") : ada.SetAsync(room, $"k{i}", i);
            await write.Within();
        }

        var page = await ada.SyncAsync(room, 0, limit: 7).Within();
        Assert.Equal(7, page.Entries.Count + page.Messages.Count);
        Assert.True(page.HasMore);
        Assert.Equal(7, page.Seq);

        var seen = new List<long>();
        var since = 0L;
        SyncResult sync;
        var calls = 0;
        do
        {
            sync = await ada.SyncAsync(room, since).Within();
            Assert.True(sync.Entries.Count + sync.Messages.Count <= TestSettings.MaxPageItems);
            seen.AddRange(sync.Entries.Select(e => e.Version).Concat(sync.Messages.Select(m => m.Seq)));
            since = sync.Seq;
            calls++;
        }
        while (sync.HasMore);
        Assert.Equal(3, calls);
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), seen.Order());
        Assert.Equal(total, since);

        var join = await ada.JoinAsync(room).Within();
        Assert.True(join.HasMore);
        Assert.Equal(TestSettings.MaxPageItems, join.Entries.Count);
        Assert.True(join.Messages.Count <= TestSettings.JoinMessages);
        var keys = join.Entries.Select(e => e.Key).ToHashSet();
        since = join.Seq;
        while (true)
        {
            var more = await ada.SyncAsync(room, since).Within();
            keys.UnionWith(more.Entries.Select(e => e.Key));
            since = more.Seq;
            if (!more.HasMore)
            {
                break;
            }
        }
        Assert.Equal(total - (total + 2) / 3, keys.Count);
    }
}

/// <summary>The contract on a WebSocket opened without negotiation.</summary>
public sealed class ContractOnDirectWebSocketTests(ServerFixture fixture) : ContractTests(fixture, ClientTransport.DirectWebSockets);

/// <summary>The contract on a negotiated WebSocket.</summary>
public sealed class ContractOnWebSocketTests(ServerFixture fixture) : ContractTests(fixture, ClientTransport.WebSockets);

/// <summary>The contract on Server-Sent Events.</summary>
public sealed class ContractOnServerSentEventsTests(ServerFixture fixture) : ContractTests(fixture, ClientTransport.ServerSentEvents);

/// <summary>The contract on Long Polling.</summary>
public sealed class ContractOnLongPollingTests(ServerFixture fixture) : ContractTests(fixture, ClientTransport.LongPolling);
