using CollabHub.Protocol;
using CollabHub.Server.Store;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>
/// The store's guarantees under concurrency: several store instances (separate service providers, as separate
/// server processes would be) committing to one database at once.
/// </summary>
public abstract partial class StoreTests
{
    private static readonly TimeSpan ConcurrencyTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The event a store instance logs when the database rolled a batch back and it runs it again.</summary>
    private const int CommitRetriedEvent = 1301;

    /// <summary>The event the schema migrator logs when it migrated.</summary>
    private const int MigratedEvent = 1001;

    private async Task<StoreHarness[]> CreateInstancesAsync(int count) => await StoreHarness.CreateManyAsync(await NewDatabaseAsync(), count);

    private static async Task DisposeAllAsync(StoreHarness[] instances)
    {
        for (var i = instances.Length - 1; i >= 0; i--)
        {
            await instances[i].DisposeAsync();
        }
    }

    [Fact]
    public async Task Several_instances_starting_at_once_migrate_the_schema_exactly_once()
    {
        var instances = await CreateInstancesAsync(4);
        try
        {
            Assert.Equal(1, instances.Sum(i => i.Events.Count(e => e == MigratedEvent)));
            var written = await instances[3].SetAsync("r", "k", "1").WaitAsync(ConcurrencyTimeout);
            Assert.Equal(1, written.Write!.Seq);
        }
        finally
        {
            await DisposeAllAsync(instances);
        }
    }

    [Fact]
    public async Task Concurrent_batches_from_several_instances_to_one_new_room_get_gapless_seqs_and_apply_each_mutation_once()
    {
        var instances = await CreateInstancesAsync(3);
        try
        {
            const int batchSize = 3, batchCount = 30;
            // Write i: a post or a set of one of five keys, by one of three users, with mutation id m{i}.
            var batches = Enumerable.Range(0, batchCount).Select(b => Enumerable.Range(b * batchSize, batchSize).Select(i => i % 4 == 3
                    ? new WriteCommand(WriteKind.Post, "r", $"u{i % 3}", null, $"{i}", $"m{i}", null)
                    : new WriteCommand(WriteKind.Set, "r", $"u{i % 3}", $"k{i % 5}", $"{i}", $"m{i}", null))
                .ToArray()).ToArray();

            // Every batch is sent twice at once, through two instances (a client retrying on another server); all
            // 60 commits start together on a room that does not exist yet.
            var commits = batches.SelectMany((batch, b) => new[] { b, b + 1 }.Select(n =>
                    Task.Run(() => instances[n % instances.Length].Store.CommitAsync(batch, CancellationToken.None))))
                .ToArray();
            var outcomes = await Task.WhenAll(commits).WaitAsync(ConcurrencyTimeout);

            var applied = new List<(int Write, long Seq)>();
            for (var b = 0; b < batchCount; b++)
            {
                var (first, second) = (outcomes[2 * b], outcomes[2 * b + 1]);
                for (var w = 0; w < batchSize; w++)
                {
                    var pair = new[] { first[w], second[w] };
                    Assert.Single(pair, o => !Duplicate(o));
                    Assert.Equal(Seq(first[w]), Seq(second[w]));
                    applied.Add((b * batchSize + w, Seq(first[w])));
                }
                // The room stays locked for the whole batch: its writes take consecutive seqs.
                Assert.Equal(Enumerable.Range(0, batchSize).Select(w => Seq(first[0]) + w), first.Select(Seq));
            }
            Assert.Equal(Enumerable.Range(1, batchCount * batchSize).Select(i => (long)i), applied.Select(a => a.Seq).Order());

            var page = await instances[0].ReadAsync("r", 0, limit: 1000).WaitAsync(ConcurrencyTimeout);
            Assert.Equal(batchCount * batchSize, page.Seq);
            Assert.Equal(applied.Where(a => a.Write % 4 == 3).Select(a => a.Seq).Order(), page.Messages.Select(m => m.Seq));
            // Last writer wins: each key holds the value of the set with the highest seq.
            foreach (var entry in page.Entries)
            {
                var last = applied.Where(a => a.Write % 4 != 3 && $"k{a.Write % 5}" == entry.Key).MaxBy(a => a.Seq);
                Assert.Equal((last.Seq, last.Write), (entry.Version, entry.Value!.Value.GetInt32()));
            }
            Assert.Equal(5, page.Entries.Count);
        }
        finally
        {
            await DisposeAllAsync(instances);
        }

        static bool Duplicate(WriteOutcome o) => o.Write?.Duplicate ?? o.Post!.Duplicate;
        static long Seq(WriteOutcome o) => o.Write?.Seq ?? o.Post!.Seq;
    }

    [Fact]
    public async Task Batches_touching_two_rooms_in_opposite_orders_from_several_instances_neither_deadlock_nor_retry()
    {
        var instances = await CreateInstancesAsync(2);
        try
        {
            const int writersPerOrder = 3, rounds = 20;
            var writers = Enumerable.Range(0, 2 * writersPerOrder).Select(w => Task.Run(async () =>
            {
                var (first, second) = w % 2 == 0 ? ("a", "b") : ("b", "a");
                for (var round = 0; round < rounds; round++)
                {
                    await instances[w % instances.Length].Store.CommitAsync(
                    [
                        new(WriteKind.Set, first, "ada", $"w{w}", $"{round}", null, null),
                        new(WriteKind.Post, first, "ada", null, $"{round}", null, null),
                        new(WriteKind.Set, second, "ada", $"w{w}", $"{round}", null, null),
                    ], CancellationToken.None);
                }
            })).ToArray();
            await Task.WhenAll(writers).WaitAsync(ConcurrencyTimeout);

            var total = 2 * writersPerOrder * rounds;
            Assert.Equal(total * 3 / 2, (await instances[1].ReadAsync("a", null).WaitAsync(ConcurrencyTimeout)).SnapshotSeq);
            Assert.Equal(total * 3 / 2, (await instances[0].ReadAsync("b", null).WaitAsync(ConcurrencyTimeout)).SnapshotSeq);
            // Not saved by the retry: the rooms are locked in one order, so no deadlock ever had to be broken.
            Assert.DoesNotContain(instances.SelectMany(i => i.Events), e => e == CommitRetriedEvent);
        }
        finally
        {
            await DisposeAllAsync(instances);
        }
    }

    [Fact]
    public async Task A_mutation_id_sent_for_two_rooms_at_once_through_two_instances_is_applied_once_and_the_other_is_refused()
    {
        var instances = await CreateInstancesAsync(2);
        try
        {
            // Both usually read "no such mutation" before either commits; then the second insert of the mutation
            // record waits for the first and fails, and the batch runs again and finds the record.
            for (var n = 0; n < 20; n++)
            {
                var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var attempts = new[] { "x", "y" }.Select((room, i) => Task.Run(async () =>
                {
                    await go.Task;
                    try
                    {
                        return (object)await instances[i].SetAsync($"{room}{n}", "k", "1", mutationId: $"m{n}");
                    }
                    catch (MutationReusedException ex)
                    {
                        return ex;
                    }
                })).ToArray();
                go.SetResult();
                var results = await Task.WhenAll(attempts).WaitAsync(ConcurrencyTimeout);

                Assert.Single(results, r => r is WriteOutcome { Write: { Applied: true, Duplicate: false, Seq: 1 } });
                Assert.Single(results, r => r is MutationReusedException);
            }
        }
        finally
        {
            await DisposeAllAsync(instances);
        }
    }
}
