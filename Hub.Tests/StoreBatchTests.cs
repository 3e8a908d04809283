using CollabHub.Protocol;
using CollabHub.Server.Store;

namespace CollabHub.Tests;

/// <summary>Atomic multi-key batches (<see cref="WriteKind.Batch"/>), on every provider.</summary>
public abstract partial class StoreTests
{
    private static WriteCommand Batch(string room, string? mutationId, params BatchOperation[] ops) =>
        new(WriteKind.Batch, room, "ada", null, null, mutationId, null, ops);

    [Fact]
    public async Task A_batch_applies_every_operation_with_consecutive_seqs_in_order_in_one_commit_with_other_writes()
    {
        await using var harness = await CreateHarnessAsync();
        await harness.SetAsync("r", "gone", "0");

        var outcomes = await harness.Store.CommitAsync(
        [
            new(WriteKind.Set, "r", "bob", "before", "1", null, null),
            Batch("r", null, new("x", "10", 0), new("y", "20", null), new("gone", null, 1), new("never", null, null)),
            new(WriteKind.Set, "r", "bob", "x", "11", null, 4),
        ], CancellationToken.None);

        var batch = outcomes[1].Batch!;
        Assert.True(batch is { Applied: true, Duplicate: false, Conflict: false, Seq: 6 });
        Assert.Equal([("x", 3L), ("y", 4L), ("gone", 5L), ("never", 6L)], batch.Entries.Select(e => (e.Key, e.Version)));
        Assert.All(batch.Entries, e => Assert.Equal(new BatchRange(3, 6), e.Batch));
        Assert.Equal([false, false, true, true], batch.Entries.Select(e => e.Deleted));
        Assert.True(outcomes[2].Write!.Conflict, "x is at version 3 after the batch, not 4");
        Assert.Equal(6, outcomes[2].Write!.Seq);

        var delta = await harness.ReadAsync("r", 1);
        Assert.Equal(6, delta.Seq);
        Assert.Equal(["before", "x", "y", "gone", "never"], delta.Entries.Select(e => e.Key));
        Assert.All(delta.Entries, e => Assert.Null(e.Batch));
    }

    [Fact]
    public async Task A_batch_with_one_failed_compare_and_set_stores_nothing_and_returns_the_conflicting_entries()
    {
        await using var harness = await CreateHarnessAsync();
        await harness.SetAsync("r", "a", "1");
        await harness.SetAsync("r", "b", "2");

        var outcome = await harness.WriteAsync(Batch("r", "m1",
            new("a", "10", 1), new("b", "20", 1), new("c", "30", 5), new("d", null, null)));

        var batch = outcome.Batch!;
        Assert.True(batch is { Applied: false, Conflict: true, Seq: 2 });
        Assert.Equal([("b", 2L)], batch.Entries.Select(e => (e.Key, e.Version)));
        Assert.False(outcome.IsNewChange);
        var page = await harness.ReadAsync("r", 0);
        Assert.Equal(2, page.Seq);
        Assert.Equal([("a", "1"), ("b", "2")], page.Entries.Select(e => (e.Key, e.Value!.Value.GetRawText())));

        // The conflict is the recorded outcome of m1, as for single writes.
        var retry = await harness.WriteAsync(Batch("r", "m1", new BatchOperation("a", "10", 1)));
        Assert.True(retry.Batch is { Duplicate: true, Conflict: true });
    }

    [Fact]
    public async Task A_batch_retried_with_its_mutation_id_returns_the_first_result_and_applies_once()
    {
        await using var harness = await CreateHarnessAsync();
        var first = await harness.WriteAsync(Batch("r", "m1", new("x", "1", null), new("y", "2", null)));
        await harness.SetAsync("r", "x", "3");

        var retry = await harness.WriteAsync(Batch("r", "m1", new("x", "1", null), new("y", "2", null)));

        Assert.True(retry.Batch!.Duplicate);
        Assert.False(retry.IsNewChange);
        Assert.Equal(first.Batch!.Seq, retry.Batch.Seq);
        Assert.Equal(
            first.Batch.Entries.Select(e => (e.Key, e.Version, e.Value!.Value.GetRawText(), e.Batch)),
            retry.Batch.Entries.Select(e => (e.Key, e.Version, e.Value!.Value.GetRawText(), e.Batch)));
        Assert.Equal(3, (await harness.ReadAsync("r", 0)).Seq);
        await Assert.ThrowsAsync<MutationReusedException>(() => harness.SetAsync("r", "x", "1", mutationId: "m1"));
    }

    [Fact]
    public async Task A_batch_that_would_pass_the_key_limit_is_refused_whole_and_one_that_trades_keys_is_not()
    {
        await using var harness = await CreateHarnessAsync(o => o.Limits.MaxKeysPerRoom = 3);
        await harness.SetAsync("r", "a", "1");
        await harness.SetAsync("r", "b", "2");

        var refused = await harness.WriteAsync(Batch("r", "m1", new("a", "9", null), new("c", "3", null), new("d", "4", null)));
        var traded = await harness.WriteAsync(Batch("r", null, new("a", null, null), new("c", "3", null), new("d", "4", null)));

        Assert.Equal(ErrorCodes.TooManyKeys, refused.Refusal!.Code);
        Assert.True(traded.Batch!.Applied);
        Assert.Equal(["b", "c", "d"], (await harness.ReadAsync("r", null)).Entries.Select(e => e.Key).Order());
    }
}
