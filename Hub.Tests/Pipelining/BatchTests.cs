using Stopwatch = System.Diagnostics.Stopwatch;
using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests.Pipelining;

/// <summary>The Batch method against a real server: all or nothing, one marked Changed per entry, exactly once.</summary>
public sealed class BatchTests(ServerFixture fixture, ITestOutputHelper output) : IClassFixture<ServerFixture>
{
    private static JsonElement J(object value) => JsonSerializer.SerializeToElement(value);

    [Fact]
    public async Task A_batch_commits_every_operation_and_listeners_get_one_Changed_per_entry_marked_with_its_seqs()
    {
        await using var ada = await fixture.ConnectAsync("ada");
        await using var bob = await fixture.ConnectAsync("bob");
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();
        var note = (await ada.SetAsync(room, "note1.text", "hello").Within()).Entry!;

        var moved = await ada.BatchAsync(room,
        [
            BatchOp.SetOp("note1.x", J(10)),
            BatchOp.SetOp("note1.y", J(20)),
            BatchOp.SetOp("note1.z", J(3)),
            BatchOp.DeleteOp("note1.text", expectedVersion: note.Version),
        ]).Within();

        Assert.True(moved is { Applied: true, Duplicate: false, Conflict: false, Seq: 5 });
        Assert.Equal([2L, 3L, 4L, 5L], moved.Entries.Select(e => e.Version));
        await bobEvents.WaitUntilAsync(l => l.Changes(room).Count() == 5, "the set and the batch's four Changed events");
        var changes = bobEvents.Changes(room).ToList();
        Assert.Null(changes[0].Batch);
        Assert.All(changes.Skip(1), c => Assert.Equal(new BatchRange(2, 5), c.Batch));
        Assert.Equal(["note1.x", "note1.y", "note1.z", "note1.text"], changes.Skip(1).Select(c => c.Key));
        Assert.True(changes[^1].Deleted);
    }

    [Fact]
    public async Task A_batch_with_a_failed_compare_and_set_in_the_middle_stores_and_broadcasts_nothing()
    {
        await using var ada = await fixture.ConnectAsync("ada");
        await using var bob = await fixture.ConnectAsync("bob");
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        await bob.JoinAsync(room).Within();
        await ada.SetAsync(room, "x", 1).Within();
        var y = (await ada.SetAsync(room, "y", 1).Within()).Entry!;

        var refused = await ada.BatchAsync(room,
        [
            BatchOp.SetOp("x", J(2)),
            BatchOp.SetOp("y", J(2), expectedVersion: y.Version - 1),
            BatchOp.SetOp("z", J(2)),
        ]).Within();
        var after = await ada.SetAsync(room, "after", true).Within();

        Assert.True(refused is { Applied: false, Conflict: true, Seq: 2 });
        Assert.Equal([("y", 2L)], refused.Entries.Select(e => (e.Key, e.Version)));
        Assert.Equal(3, after.Seq);
        await bobEvents.WaitUntilAsync(l => l.Changes(room).Any(c => c.Key == "after"), "the Changed of the write after the batch");
        Assert.Equal(["x", "y", "after"], bobEvents.Changes(room).Select(c => c.Key));
        var (_, entries, _) = await ada.SyncAllAsync(room);
        Assert.Equal(1, entries["x"].Value!.Value.GetInt32());
        Assert.False(entries.ContainsKey("z"));
    }

    [Fact]
    public async Task A_batch_sent_again_with_its_mutation_id_returns_the_first_result()
    {
        await using var ada = await fixture.ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        BatchOp[] ops = [BatchOp.SetOp("a", J(1)), BatchOp.SetOp("b", J(2))];

        var first = await ada.BatchAsync(room, ops, "paste-1").Within();
        var again = await ada.BatchAsync(room, ops, "paste-1").Within();

        Assert.True(first is { Applied: true, Duplicate: false, Seq: 2 });
        Assert.True(again is { Applied: true, Duplicate: true, Seq: 2 });
        Assert.Equal(2, (await ada.SyncAsync(room, 0).Within()).Seq);
        var reused = await Assert.ThrowsAsync<CollabHubException>(() => ada.SetAsync(room, "a", 1, new WriteOptions { MutationId = "paste-1" }).Within());
        Assert.Equal(ErrorCodes.MutationReused, reused.Code);
    }

    [Fact]
    public async Task Batches_that_break_the_rules_are_refused_with_stable_codes()
    {
        await using var ada = await fixture.ConnectAsync("ada");
        var room = TestClients.NewRoom();

        Assert.Equal(ErrorCodes.NotJoined, await CodeOf(ada.BatchAsync(room, [BatchOp.SetOp("a", J(1))])));
        await ada.JoinAsync(room).Within();
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(ada.BatchAsync(room, [])));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(ada.BatchAsync(room, [BatchOp.SetOp("a", J(1)), BatchOp.DeleteOp("a")])));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(ada.BatchAsync(room, [new BatchOp("merge", "a", J(1))])));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(ada.BatchAsync(room, [new BatchOp(BatchOps.Delete, "a", J(1))])));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(ada.BatchAsync(room, [new BatchOp(BatchOps.Set, "a")])));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(ada.BatchAsync(room, [BatchOp.SetOp("a", J(1), expectedVersion: -1)])));
        Assert.Equal(ErrorCodes.InvalidKey, await CodeOf(ada.BatchAsync(room, [BatchOp.SetOp("", J(1))])));
        Assert.Equal(ErrorCodes.TooLarge, await CodeOf(ada.BatchAsync(room, [BatchOp.SetOp("a", J(new string('v', TestSettings.MaxValueBytes)))])));
        Assert.Equal(ErrorCodes.TooLarge, await CodeOf(ada.BatchAsync(room, Enumerable.Range(0, 101).Select(i => BatchOp.SetOp($"k{i}", J(i))).ToArray())));
        Assert.Equal(0, (await ada.SyncAsync(room, 0).Within()).Seq);
    }

    [Fact]
    public async Task A_batch_of_100_operations_is_one_commit_where_100_sets_are_many()
    {
        await using var ada = await fixture.ConnectAsync("ada");
        var room = TestClients.NewRoom();
        await ada.JoinAsync(room).Within();
        var ops = Enumerable.Range(0, 100).Select(i => BatchOp.SetOp($"k{i}", J(i))).ToArray();
        await ada.BatchAsync(room, ops).Within();

        var watch = Stopwatch.StartNew();
        var batch = await ada.BatchAsync(room, ops).Within();
        var batchTime = watch.Elapsed;
        watch.Restart();
        var sets = new List<WriteResult>();
        foreach (var op in ops)
        {
            sets.Add(await ada.SetAsync(room, op.Key, op.Value).Within());
        }
        var setsTime = watch.Elapsed;
        output.WriteLine($"a Batch of 100 ops: {batchTime.TotalMilliseconds:0.0} ms; 100 Sets one after another: {setsTime.TotalMilliseconds:0.0} ms");

        // One transaction stamps one commit time on every entry; single writes waited for each other.
        Assert.Single(batch.Entries.Select(e => e.At).Distinct());
        Assert.Equal(Enumerable.Range(101, 100).Select(i => (long)i), batch.Entries.Select(e => e.Version));
        Assert.Equal(Enumerable.Range(201, 100).Select(i => (long)i), sets.Select(s => s.Seq));
    }

    private static async Task<string?> CodeOf(Task call)
    {
        var error = await Assert.ThrowsAsync<CollabHubException>(() => call.Within());
        return error.Code;
    }
}
