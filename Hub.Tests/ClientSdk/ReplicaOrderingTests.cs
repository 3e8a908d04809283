using CollabHub.Client;
using CollabHub.Protocol;
using static CollabHub.Tests.ClientSdk.Wire;

namespace CollabHub.Tests.ClientSdk;

/// <summary>
/// The ordering rules of a room's replica (docs/protocol.md, "Client behaviour"), driven with synthetic answers and
/// events: what is held, dropped, applied and asked for, and that every position is applied once, in order.
/// </summary>
public sealed class ReplicaOrderingTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    private static async Task<(CollabRoom Room, FakeChannel Channel, RoomEvents Events)> JoinedAsync(FakeRoomOwner owner, JoinResult answer)
    {
        var room = owner.NewRoom();
        var events = new RoomEvents(room);
        var channel = new FakeChannel("connection 1");
        room.Attach(channel);
        var join = await channel.NextAsync<JoinResult>();
        await join.AnswerAsync(answer);
        return (room, channel, events);
    }

    [Fact]
    public async Task Events_that_arrive_during_a_join_are_held_and_applied_after_its_answer_each_once()
    {
        var owner = new FakeRoomOwner();
        var room = owner.NewRoom();
        var events = new RoomEvents(room);
        var channel = new FakeChannel("connection 1");

        room.Attach(channel);
        var join = await channel.NextAsync<JoinResult>();
        room.OnChanged(channel, Set("a", 1));
        room.OnChanged(channel, Set("b", 2));
        room.OnChanged(channel, Set("c", 3));

        Assert.Null(join.Since);
        Assert.Equal(0, room.Seq);
        Assert.Empty(room.Confirmed);
        Assert.False(room.IsSynced);

        await join.AnswerAsync(Join(2, full: true, [Set("a", 1), Set("b", 2)], present: "ada"));

        Assert.Equal(3, room.Seq);
        Assert.True(room.IsSynced);
        Assert.Equal(["a", "b", "c"], room.Confirmed.Keys.Order());
        Assert.Equal([new AppliedRange(1, 2, true), new AppliedRange(3, 3, false)], events.Ranges);
        Assert.Equal(["a", "b", "c"], events.Changes.Select(c => c.Key));
        Assert.Equal(["ada"], room.Presence.Select(p => p.UserId));
        await channel.AssertNoCallAsync(Quiet);
    }

    [Fact]
    public async Task An_event_past_the_next_seq_is_held_and_the_gap_is_filled_by_one_Sync_at_a_time()
    {
        var (room, channel, events) = await JoinedAsync(new FakeRoomOwner(), Join(5, full: true, [Set("a", 5)]));

        room.OnChanged(channel, Set("k7", 7));
        var fill = await channel.NextAsync<SyncResult>();
        room.OnPosted(channel, Msg(8));
        room.OnChanged(channel, Set("k9", 9));
        room.OnChanged(channel, Set("k7", 7));
        await channel.AssertNoCallAsync(Quiet);

        Assert.Equal(5, fill.Since);
        Assert.Equal(5, room.Seq);
        Assert.False(room.IsSynced);

        await fill.AnswerAsync(Sync(7, [Set("k6", 6), Set("k7", 7)]));

        Assert.Equal(9, room.Seq);
        Assert.True(room.IsSynced);
        Assert.Equal(["a", "k6", "k7", "k9"], room.Confirmed.Keys.Order());
        Assert.Equal([8L], room.Messages.Select(m => m.Seq));
        Assert.Equal(
            [new AppliedRange(1, 5, true), new AppliedRange(6, 7, false), new AppliedRange(8, 8, false), new AppliedRange(9, 9, false)],
            events.Ranges);
        events.AssertGaplessAndOnce();
        await channel.AssertNoCallAsync(Quiet);
    }

    [Fact]
    public async Task A_gap_that_remains_after_a_fill_is_filled_again()
    {
        var (room, channel, events) = await JoinedAsync(new FakeRoomOwner(), Join(1, full: false, [Set("a", 1)]));

        room.OnChanged(channel, Set("k5", 5));
        var first = await channel.NextAsync<SyncResult>();
        await first.AnswerAsync(Sync(3, [Set("k2", 2), Set("k3", 3)]));
        var second = await channel.NextAsync<SyncResult>();

        Assert.Equal(3, second.Since);
        await second.AnswerAsync(Sync(4, [Set("k4", 4)]));
        Assert.Equal(5, room.Seq);
        events.AssertGaplessAndOnce();
        Assert.Equal(5, events.Changes.Count);
    }

    [Fact]
    public async Task A_paged_join_continues_with_Sync_from_each_page_before_the_held_events_apply()
    {
        var room = new FakeRoomOwner { SyncPageSize = 2 }.NewRoom();
        var events = new RoomEvents(room);
        var channel = new FakeChannel("connection 1");
        room.Attach(channel);
        var join = await channel.NextAsync<JoinResult>();
        room.OnChanged(channel, Set("k9", 9));

        await join.AnswerAsync(Join(3, full: true, [Set("a", 2), Set("b", 3), Msg(8)], hasMore: true));
        var page1 = await channel.NextAsync<SyncResult>();
        Assert.Equal(3, page1.Since);
        Assert.False(room.IsSynced);
        await page1.AnswerAsync(Sync(6, [Set("c", 5), Tombstone("a", 6)], hasMore: true));
        var page2 = await channel.NextAsync<SyncResult>();
        Assert.Equal(6, page2.Since);
        await page2.AnswerAsync(Sync(8, [Set("d", 7)]));

        Assert.Equal(9, room.Seq);
        Assert.True(room.IsSynced);
        Assert.Equal(["b", "c", "d", "k9"], room.Confirmed.Keys.Order());
        Assert.Equal([8L], room.Messages.Select(m => m.Seq));
        events.AssertGaplessAndOnce();
    }

    [Fact]
    public async Task A_rejoin_asks_for_what_changed_since_the_replica_seq_and_applies_tombstones()
    {
        var (room, first, events) = await JoinedAsync(new FakeRoomOwner(), Join(2, full: true, [Set("a", 1), Set("b", 2)]));

        room.Detach(first);
        room.OnChanged(first, Set("late", 3));
        var second = new FakeChannel("connection 2");
        room.Attach(second);
        var rejoin = await second.NextAsync<JoinResult>();
        await rejoin.AnswerAsync(Join(5, full: false, [Tombstone("a", 3), Set("c", 4), Msg(5)]));

        Assert.Equal(2, rejoin.Since);
        Assert.Equal(5, room.Seq);
        Assert.Equal(["b", "c"], room.Confirmed.Keys.Order());
        Assert.Null(room.Get("a"));
        Assert.Contains(events.Changes, c => c is { Key: "a", Entry: null, Origin: ChangeOrigin.Join });
        Assert.Equal([new AppliedRange(1, 2, true), new AppliedRange(3, 5, false)], events.Ranges);
    }

    [Fact]
    public async Task A_full_answer_replaces_the_state_and_reports_the_keys_it_removed()
    {
        var (room, first, events) = await JoinedAsync(new FakeRoomOwner(), Join(2, full: true, [Set("a", 1), Set("b", 2), Msg(1)]));
        room.Detach(first);
        var second = new FakeChannel("connection 2");
        room.Attach(second);
        var rejoin = await second.NextAsync<JoinResult>();

        // The client was below the purge horizon: the server answers with a full snapshot.
        await rejoin.AnswerAsync(Join(9, full: true, [Set("b", 2), Set("c", 9)]));

        Assert.Equal(9, room.Seq);
        Assert.Equal(["b", "c"], room.Confirmed.Keys.Order());
        Assert.Empty(room.Messages);
        Assert.Equal([("a", 1L), ("b", 2L), ("c", 9L), ("a", 0L)], events.Changes.Select(c => (c.Key, c.Entry?.Version ?? 0)));
        Assert.Equal(new AppliedRange(1, 9, true), events.Ranges[^1]);
    }

    [Fact]
    public async Task A_write_answer_past_the_replica_seq_fills_the_gap_when_its_event_does_not_come()
    {
        var (room, channel, events) = await JoinedAsync(new FakeRoomOwner(), Join(2, full: true, [Set("a", 2)]));

        room.OnWriteAnswered(3);
        var fill = await channel.NextAsync<SyncResult>();
        Assert.Equal(2, fill.Since);
        await fill.AnswerAsync(Sync(3, [Set("mine", 3)]));

        Assert.Equal(3, room.Seq);
        Assert.NotNull(room.GetConfirmed("mine"));
        events.AssertGaplessAndOnce();
    }

    [Fact]
    public async Task A_write_answer_whose_event_came_first_asks_for_nothing()
    {
        var (room, channel, _) = await JoinedAsync(new FakeRoomOwner(), Join(2, full: true));

        room.OnChanged(channel, Set("mine", 3));
        room.OnWriteAnswered(3);
        room.OnWriteAnswered(1);

        await channel.AssertNoCallAsync(Quiet);
        Assert.Equal(3, room.Seq);
    }

    [Fact]
    public async Task A_write_answer_waits_the_grace_for_its_event_before_asking()
    {
        var (room, channel, _) = await JoinedAsync(new FakeRoomOwner { AnsweredSeqGrace = TimeSpan.FromSeconds(1) }, Join(2, full: true));

        room.OnWriteAnswered(3);
        room.OnChanged(channel, Set("mine", 3));

        await channel.AssertNoCallAsync(TimeSpan.FromMilliseconds(1500));
        Assert.Equal(3, room.Seq);
    }

    [Fact]
    public async Task Messages_are_kept_once_by_seq_and_only_the_most_recent_ones()
    {
        var (room, channel, events) = await JoinedAsync(new FakeRoomOwner { MaxMessages = 3 }, Join(3, full: true, [Msg(1), Msg(2), Msg(3)]));

        room.OnPosted(channel, Msg(4));
        room.OnPosted(channel, Msg(5));
        room.OnPosted(channel, Msg(5));
        room.OnPosted(channel, Msg(2));

        Assert.Equal([3L, 4L, 5L], room.Messages.Select(m => m.Seq));
        Assert.Equal([1L, 2L, 3L, 4L, 5L], events.Posts.Select(m => m.Seq));
        Assert.Equal(5, room.Seq);
        await channel.AssertNoCallAsync(Quiet);
    }

    [Fact]
    public async Task An_optimistic_set_shows_in_the_view_until_the_replica_confirms_it_without_flicker()
    {
        var (room, channel, events) = await JoinedAsync(new FakeRoomOwner(), Join(1, full: true, [Set("k", 1, "old")]));

        room.AddPending(1, "k", Set("k", 0, "new").Value);
        Assert.Equal("new", room.Get("k")!.Value!.Value.GetString());
        Assert.Equal(0, room.Get("k")!.Version);
        Assert.Equal("old", room.GetConfirmed("k")!.Value!.Value.GetString());
        Assert.True(room.IsPending("k"));

        // The answer comes before the event: the view shows the server's entry, not the old value.
        room.AckPending(1, "k", 2, Set("k", 2, "new"));
        Assert.Equal(2, room.Get("k")!.Version);
        Assert.Equal(1, room.GetConfirmed("k")!.Version);
        room.OnChanged(channel, Set("k", 2, "new"));

        Assert.False(room.IsPending("k"));
        Assert.Equal(2, room.GetConfirmed("k")!.Version);
        Assert.Equal(
            [(ChangeOrigin.Join, 1L), (ChangeOrigin.Local, 0L), (ChangeOrigin.Confirm, 2L)],
            events.Changes.Select(c => (c.Origin, c.Entry!.Version)));
    }

    [Fact]
    public async Task An_optimistic_write_that_ends_unapplied_rolls_the_view_back_to_the_confirmed_entry()
    {
        var (room, channel, events) = await JoinedAsync(new FakeRoomOwner(), Join(1, full: true, [Set("k", 1, "old")]));

        room.AddPending(1, "k", null);
        Assert.Null(room.Get("k"));
        Assert.Equal(["k"], room.Confirmed.Keys);
        room.AddPending(2, "k", Set("k", 0, "newer").Value);
        room.OnChanged(channel, Set("k", 2, "theirs"));
        Assert.Equal("newer", room.Get("k")!.Value!.Value.GetString());

        room.DropPending(2, "k");
        Assert.Null(room.Get("k"));
        room.DropPending(1, "k");

        Assert.Equal("theirs", room.Get("k")!.Value!.Value.GetString());
        Assert.Equal(ChangeOrigin.Rollback, events.Changes[^1].Origin);
        Assert.False(room.IsPending("k"));
    }

    [Fact]
    public async Task Events_of_a_connection_the_room_is_no_longer_joined_on_are_ignored()
    {
        var (room, first, events) = await JoinedAsync(new FakeRoomOwner(), Join(1, full: true, [Set("a", 1)]));

        room.Detach(first);
        room.OnChanged(first, Set("b", 2));
        room.OnPresenceDelta(first, new PresenceDelta([new PresenceEntry("eve", "eve", 1)], [], 1));

        Assert.Equal(1, room.Seq);
        Assert.False(room.IsSynced);
        Assert.Empty(room.Presence);
        await first.AssertNoCallAsync(Quiet);
    }

    [Fact]
    public async Task Presence_deltas_that_arrive_before_the_join_answer_are_applied_over_its_list()
    {
        var owner = new FakeRoomOwner();
        var room = owner.NewRoom();
        var channel = new FakeChannel("connection 1");
        room.Attach(channel);
        var join = await channel.NextAsync<JoinResult>();

        room.OnPresenceDelta(channel, new PresenceDelta([new PresenceEntry("bob", "bob", 1)], [], 3));
        room.OnPresenceDelta(channel, new PresenceDelta([new PresenceEntry("cyd", "cyd", 2)], ["eve"], 3));
        Assert.Empty(room.Presence);
        await join.AnswerAsync(Join(0, full: true, present: ["ada", "eve"]));

        Assert.Equal([("ada", 1), ("bob", 1), ("cyd", 2)], room.Presence.Select(p => (p.UserId, p.Connections)));
        Assert.Equal(3, room.PresenceCount);
    }

    [Fact]
    public async Task Presence_deltas_update_the_list_and_a_counted_room_changes_only_the_count_until_a_full_list_replaces_it()
    {
        var (room, channel, events) = await JoinedAsync(new FakeRoomOwner(), Join(0, full: true, present: ["ada", "bob"]));

        room.OnPresenceDelta(channel, new PresenceDelta([new PresenceEntry("ada", "Ada L.", 2), new PresenceEntry("cyd", "cyd", 1)], ["bob"], 2));
        Assert.Equal([("ada", "Ada L.", 2), ("cyd", "cyd", 1)], room.Presence.Select(p => (p.UserId, p.Name, p.Connections)));
        Assert.Equal(2, room.PresenceCount);

        room.OnPresenceDelta(channel, new PresenceDelta(null, null, 5000));
        Assert.Equal(["ada", "cyd"], room.Presence.Select(p => p.UserId));
        Assert.Equal(5000, room.PresenceCount);

        room.OnPresenceDelta(channel, new PresenceDelta([new PresenceEntry("dan", "dan", 1)], [], 1, Full: true));
        Assert.Equal(["dan"], room.Presence.Select(p => p.UserId));
        Assert.Equal(1, room.PresenceCount);
        Assert.Equal(4, events.Presence.Count);
    }

    [Fact]
    public async Task A_refused_join_is_reported_as_such_and_a_temporarily_refused_join_or_sync_is_asked_again_on_the_same_connection()
    {
        var owner = new FakeRoomOwner();
        var refused = owner.NewRoom();
        var channel = new FakeChannel("connection 1");
        refused.Attach(channel);
        await (await channel.NextAsync<JoinResult>()).FailAsync(new CollabHubException(ErrorCodes.TooManyRooms, "too_many_rooms: no"));

        var busy = owner.NewRoom("busy");
        var busyChannel = new FakeChannel("connection 2");
        busy.Attach(busyChannel);
        await (await busyChannel.NextAsync<JoinResult>()).FailAsync(new CollabHubException(ErrorCodes.RateLimited, "rate_limited: slow down"));
        await (await busyChannel.NextAsync<JoinResult>()).AnswerAsync(Join(1, full: true, [Set("k", 1)]));
        Assert.Equal(1, busy.Seq);

        var (room, second, _) = await JoinedAsync(owner, Join(1, full: true));
        room.OnChanged(second, Set("k", 3));
        await (await second.NextAsync<SyncResult>()).FailAsync(new CollabHubException(ErrorCodes.Unavailable, "unavailable: store down"));
        var again = await second.NextAsync<SyncResult>();
        Assert.Equal(1, again.Since);
        await again.AnswerAsync(Sync(2, [Set("j", 2)]));

        Assert.Equal(3, room.Seq);
        Assert.Contains("refused too_many_rooms", owner.Reports);
        Assert.DoesNotContain(owner.Reports, r => r.StartsWith("faulted", StringComparison.Ordinal));
    }
}
