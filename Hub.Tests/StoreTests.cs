using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Store;
using CollabHub.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace CollabHub.Tests;

/// <summary>The store on a SQLite file in a temp folder.</summary>
public sealed class SqliteStoreTests : StoreTests
{
    private protected override Task<StoreDatabase> NewDatabaseAsync() => Task.FromResult(StoreDatabase.Sqlite());

    [Theory]
    [InlineData(null, 2L)]
    [InlineData(SqliteDurability.Full, 2L)]
    [InlineData(SqliteDurability.Normal, 1L)]
    public async Task Every_connection_of_the_store_runs_at_the_configured_durability(SqliteDurability? durability, long synchronous)
    {
        await using var harness = await StoreHarness.CreateAsync(StoreDatabase.Sqlite(), o =>
        {
            if (durability is { } chosen)
            {
                o.Store.SqliteDurability = chosen;
            }
        });
        Assert.True((await harness.SetAsync("r", "a", "1")).Write!.Applied);

        // Two connections open at once, so the second is not the pooled first one again.
        await using var first = await harness.Contexts.CreateDbContextAsync();
        await using var second = await harness.Contexts.CreateDbContextAsync();
        foreach (var db in new[] { first, second })
        {
            await db.Database.OpenConnectionAsync();
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = "PRAGMA synchronous;";
            Assert.Equal(synchronous, Convert.ToInt64(await command.ExecuteScalarAsync()));
        }
        Assert.Single((await harness.Store.ReadAsync(new RoomRead("r", null, 100, 1 << 20, 0, null), CancellationToken.None)).Entries);
    }
}

/// <summary>
/// The store's guarantees, in process against a real database, with a clock the test controls: a specification
/// that every provider runs (<see cref="SqliteStoreTests"/>, <see cref="PostgresStoreTests"/>).
/// </summary>
public abstract partial class StoreTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    /// <summary>A new, empty database of the provider under test.</summary>
    private protected abstract Task<StoreDatabase> NewDatabaseAsync();

    private async Task<StoreHarness> CreateHarnessAsync(Action<CollabHubOptions>? configure = null) =>
        await StoreHarness.CreateAsync(await NewDatabaseAsync(), configure);

    [Fact]
    public async Task The_key_limit_counts_live_keys_per_room_across_commits_and_a_schema_3_database_gets_them_counted()
    {
        await using var harness = await CreateHarnessAsync(o => o.Limits.MaxKeysPerRoom = 3);
        await harness.SetAsync("r", "a", "1");
        await harness.SetAsync("r", "b", "2");
        await harness.SetAsync("r", "c", "3");
        await harness.DeleteAsync("r", "b");
        await harness.SetAsync("r", "d", "4");
        await harness.SetAsync("other", "x", "1");

        Assert.Equal(ErrorCodes.TooManyKeys, (await harness.SetAsync("r", "e", "5")).Refusal?.Code);
        Assert.True((await harness.SetAsync("r", "a", "6")).Write!.Applied);

        // A database as release 3 left it: no room_keys table. The migration counts each room's live keys.
        await harness.ExecuteSqlAsync("DROP TABLE room_keys; UPDATE schema_info SET version = 3");
        await harness.MigrateAsync();

        Assert.Equal(ErrorCodes.TooManyKeys, (await harness.SetAsync("r", "e", "5")).Refusal?.Code);
        await harness.DeleteAsync("r", "a");
        Assert.True((await harness.SetAsync("r", "e", "5")).Write!.Applied);
        Assert.True((await harness.SetAsync("other", "y", "2")).Write!.Applied);
        Assert.True((await harness.SetAsync("other", "z", "3")).Write!.Applied);
        Assert.Equal(ErrorCodes.TooManyKeys, (await harness.SetAsync("other", "w", "4")).Refusal?.Code);
    }

    [Fact]
    public async Task A_delta_from_below_the_purge_horizon_becomes_a_full_snapshot()
    {
        await using var harness = await CreateHarnessAsync(o => o.Store.TombstoneRetention = 2 * Day);
        await harness.SetAsync("r", "keep", "1");
        await harness.SetAsync("r", "gone", "2");
        await harness.DeleteAsync("r", "gone");
        harness.Clock.Advance(Day);
        await harness.SetAsync("r", "later", "4");

        // Within the retention both deltas are complete, tombstone included.
        Assert.Contains((await harness.ReadAsync("r", 1)).Entries, e => e is { Key: "gone", Deleted: true });

        harness.Clock.Advance(1.5 * Day);
        var purged = await harness.Store.PurgeAsync(harness.Clock.GetUtcNow() - 2 * Day, harness.Clock.GetUtcNow() - 7 * Day, CancellationToken.None);

        Assert.Equal(1, purged.Tombstones);
        var stale = await harness.ReadAsync("r", 2);
        Assert.True(stale.Full);
        Assert.Equal(["keep", "later"], stale.Entries.Select(e => e.Key));
        var fresh = await harness.ReadAsync("r", 3);
        Assert.False(fresh.Full);
        Assert.Equal(["later"], fresh.Entries.Select(e => e.Key));
    }

    [Fact]
    public async Task Message_retention_keeps_the_newest_per_room_and_by_age_and_a_delta_from_below_it_becomes_a_full_snapshot()
    {
        await using var harness = await CreateHarnessAsync();
        Task Post(string text) => harness.WriteAsync(new WriteCommand(WriteKind.Post, "r", "ada", null, $"\"{text}\"", null, null));
        await Post("m0");                 // seq 1
        await harness.SetAsync("r", "a", "1"); // 2
        await Post("m1");                 // 3
        await Post("m2");                 // 4
        await harness.SetAsync("r", "b", "2"); // 5
        await Post("m3");                 // 6
        await Post("m4");                 // 7
        await harness.WriteAsync(new WriteCommand(WriteKind.Post, "other", "ada", null, "\"kept\"", null, null));

        // The newest 2 per room, removed in batches of 2: seqs 1, 3 and 4 of room r; the other room is under the count.
        Assert.Equal(3, await harness.Store.PurgeMessagesAsync(new MessageRetention(2, null, 2), CancellationToken.None));
        Assert.Equal(0, await harness.Store.PurgeMessagesAsync(new MessageRetention(2, null, 2), CancellationToken.None));

        var stale = await harness.ReadAsync("r", 3);
        Assert.True(stale.Full, "a delta from below what was removed is a full snapshot");
        Assert.Equal(7, stale.Seq);
        Assert.Equal(["a", "b"], stale.Entries.Select(e => e.Key));
        Assert.Equal([6L, 7L], stale.Messages.Select(m => m.Seq));
        var fresh = await harness.ReadAsync("r", 4);
        Assert.False(fresh.Full);
        Assert.Equal(["b"], fresh.Entries.Select(e => e.Key));
        Assert.Equal([6L, 7L], fresh.Messages.Select(m => m.Seq));
        Assert.Single((await harness.ReadAsync("other", null)).Messages);

        // By age, whatever the count: the two left (and the other room's one) are older than a day, the new one is not.
        harness.Clock.Advance(2 * Day);
        await Post("m5");                 // 8
        Assert.Equal(3, await harness.Store.PurgeMessagesAsync(new MessageRetention(100, harness.Clock.GetUtcNow() - Day, 10), CancellationToken.None));
        Assert.Equal([8L], (await harness.ReadAsync("r", null)).Messages.Select(m => m.Seq));
        Assert.True((await harness.ReadAsync("r", 6)).Full);
        Assert.False((await harness.ReadAsync("r", 7)).Full);
        Assert.Empty((await harness.ReadAsync("other", null)).Messages);
    }

    [Fact]
    public async Task A_paged_full_snapshot_can_be_continued_below_the_purge_horizon()
    {
        await using var harness = await CreateHarnessAsync();
        for (var i = 0; i < 5; i++)
        {
            await harness.SetAsync("r", $"k{i}", $"{i}");
        }
        await harness.SetAsync("r", "gone", "0");
        await harness.DeleteAsync("r", "gone");
        harness.Clock.Advance(60 * Day);
        await harness.Store.PurgeAsync(harness.Clock.GetUtcNow(), harness.Clock.GetUtcNow(), CancellationToken.None);

        var first = await harness.ReadAsync("r", null, limit: 3);
        Assert.True(first is { Full: true, HasMore: true, Seq: 3 });
        Assert.True((await harness.ReadAsync("r", first.Seq, limit: 3)).Full, "without the cursor it is a stale client");
        var rest = await harness.ReadAsync("r", first.Seq, limit: 3, snapshotSeq: first.SnapshotSeq);
        Assert.False(rest.Full);
        Assert.False(rest.HasMore);
        Assert.Equal(["k3", "k4"], rest.Entries.Select(e => e.Key));
    }

    [Fact]
    public async Task A_paged_full_snapshot_carries_the_recent_messages_once_and_not_the_older_history()
    {
        await using var harness = await CreateHarnessAsync();
        for (var i = 0; i < 6; i++)
        {
            await harness.SetAsync("r", $"k{i}", $"{i}");
            await harness.WriteAsync(new WriteCommand(WriteKind.Post, "r", "ada", null, $"\"m{i}\"", null, null));
        }

        var first = await harness.ReadAsync("r", null, limit: 4, recent: 2);
        Assert.Equal([10L, 12L], first.Messages.Select(m => m.Seq));
        Assert.Equal((7L, 12L), (first.Seq, first.SnapshotSeq));
        var rest = await harness.ReadAsync("r", first.Seq, snapshotSeq: first.SnapshotSeq);
        Assert.Equal(["k4", "k5"], rest.Entries.Select(e => e.Key));
        Assert.Empty(rest.Messages);
        Assert.Equal(12, rest.Seq);
    }

    [Fact]
    public async Task Pages_stop_at_the_byte_budget_but_always_carry_one_item()
    {
        await using var harness = await CreateHarnessAsync();
        var big = $"\"{new string('x', 1000)}\"";
        for (var i = 0; i < 5; i++)
        {
            await harness.SetAsync("r", $"k{i}", big);
        }

        var full = await harness.ReadAsync("r", null, maxBytes: 2500);
        Assert.Equal(2, full.Entries.Count);
        Assert.True(full.HasMore);
        var delta = await harness.ReadAsync("r", 0, maxBytes: 10);
        Assert.Single(delta.Entries);
        Assert.Equal(1, delta.Seq);
    }

    [Fact]
    public async Task A_full_page_keeps_its_recent_messages_when_entries_fill_the_byte_budget()
    {
        await using var harness = await CreateHarnessAsync();
        var big = $"\"{new string('x', 1000)}\"";
        for (var i = 0; i < 3; i++)
        {
            await harness.SetAsync("r", $"k{i}", big);
        }
        await harness.WriteAsync(new WriteCommand(WriteKind.Post, "r", "ada", null, big, null, null));

        var full = await harness.ReadAsync("r", null, maxBytes: 1500);

        Assert.Single(full.Messages);
        Assert.Empty(full.Entries);
        Assert.True(full.HasMore);
        Assert.Equal(0, full.Seq);
        var rest = await harness.ReadAsync("r", full.Seq, maxBytes: 1500, snapshotSeq: full.SnapshotSeq);
        Assert.Equal(["k0"], rest.Entries.Select(e => e.Key));
        Assert.Empty(rest.Messages);
    }

    [Fact]
    public async Task Mutation_records_expire_after_the_retention_window()
    {
        await using var harness = await CreateHarnessAsync();
        var first = await harness.SetAsync("r", "k", "1", mutationId: "m1");
        var retry = await harness.SetAsync("r", "k", "1", mutationId: "m1");
        Assert.True(retry.Write!.Duplicate);
        Assert.Equal(first.Write!.Seq, retry.Write.Seq);

        harness.Clock.Advance(8 * Day);
        var purged = await harness.Store.PurgeAsync(harness.Clock.GetUtcNow() - 30 * Day, harness.Clock.GetUtcNow() - 7 * Day, CancellationToken.None);

        Assert.Equal(1, purged.Mutations);
        var late = await harness.SetAsync("r", "k", "1", mutationId: "m1");
        Assert.False(late.Write!.Duplicate);
    }

    [Fact]
    public async Task One_batch_chains_writes_to_the_same_key_and_replays_a_repeated_mutation_id()
    {
        await using var harness = await CreateHarnessAsync();
        var outcomes = await harness.Store.CommitAsync(
        [
            new(WriteKind.Set, "r", "ada", "k", "1", "m1", 0),
            new(WriteKind.Set, "r", "bob", "k", "2", null, 1),
            new(WriteKind.Set, "r", "ada", "k", "1", "m1", 0),
            new(WriteKind.Set, "r", "eve", "k", "3", null, 1),
            new(WriteKind.Post, "other", "eve", null, "\"hi\"", null, null),
            new(WriteKind.Delete, "r", "ada", "k", null, null, 2),
        ], CancellationToken.None);

        Assert.Equal((true, 1L), (outcomes[0].Write!.Applied, outcomes[0].Write!.Seq));
        Assert.Equal((true, 2L), (outcomes[1].Write!.Applied, outcomes[1].Write!.Seq));
        Assert.True(outcomes[2].Write!.Duplicate);
        Assert.Equal(1, outcomes[2].Write!.Seq);
        Assert.True(outcomes[3].Write!.Conflict);
        Assert.Equal(2, outcomes[3].Write!.Entry!.Version);
        Assert.Equal(1, outcomes[4].Post!.Seq);
        Assert.Equal((true, 3L), (outcomes[5].Write!.Applied, outcomes[5].Write!.Seq));
        var delta = await harness.ReadAsync("r", 0);
        Assert.Equal(3, delta.Seq);
        Assert.True(delta.Entries.Single().Deleted);
    }

    [Fact]
    public async Task A_batch_that_fails_stores_nothing()
    {
        await using var harness = await CreateHarnessAsync();
        await harness.SetAsync("r", "k", "1", mutationId: "m1");

        await Assert.ThrowsAsync<MutationReusedException>(() => harness.Store.CommitAsync(
        [
            new(WriteKind.Set, "r", "ada", "a", "1", null, null),
            new(WriteKind.Post, "r", "ada", null, "\"x\"", "m1", null),
        ], CancellationToken.None));

        var page = await harness.ReadAsync("r", 0);
        Assert.Equal(1, page.Seq);
        Assert.Equal(["k"], page.Entries.Select(e => e.Key));
    }
}
