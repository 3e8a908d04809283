using CollabHub.Protocol;
using CollabHub.Server.Store;
using CollabHub.Tests.Infrastructure;
using Npgsql;

namespace CollabHub.Tests;

/// <summary>
/// The store on PostgreSQL: every <see cref="StoreTests"/> test, and what only PostgreSQL can show. One throw-away
/// server for the class, a new database for each test.
/// </summary>
public sealed class PostgresStoreTests(PostgresFixture postgres) : StoreTests, IClassFixture<PostgresFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private protected override Task<StoreDatabase> NewDatabaseAsync() => StoreDatabase.PostgresAsync(postgres);

    [Fact]
    public async Task A_batch_that_PostgreSQL_aborts_as_a_deadlock_victim_runs_again_and_is_stored_once()
    {
        var database = await StoreDatabase.PostgresAsync(postgres).WaitAsync(Timeout);
        await using var harness = await StoreHarness.CreateAsync(database).WaitAsync(Timeout);
        await harness.SetAsync("a", "k", "0").WaitAsync(Timeout);
        await harness.SetAsync("b", "k", "0").WaitAsync(Timeout);

        // Another session holds room b and then asks for room a while the batch holds a and waits for b. That
        // session checks for deadlocks only after 10 s, the store's after the server's 200 ms: the batch is the victim.
        await using var other = new NpgsqlConnection(database.ConnectionString);
        await other.OpenAsync().WaitAsync(Timeout);
        await using var transaction = await other.BeginTransactionAsync().AsTask().WaitAsync(Timeout);
        await ExecuteAsync(other, "SET LOCAL deadlock_timeout = '10s'");
        await ExecuteAsync(other, "SELECT seq FROM rooms WHERE id = 'b' FOR UPDATE");

        var commit = harness.Store.CommitAsync(
        [
            new(WriteKind.Set, "a", "ada", "k", "1", "m1", null),
            new(WriteKind.Set, "b", "ada", "k", "1", "m2", null),
        ], CancellationToken.None);
        await WaitForLockWaitAsync(database.ConnectionString);
        await ExecuteAsync(other, "SELECT seq FROM rooms WHERE id = 'a' FOR UPDATE");
        Assert.False(commit.IsCompleted, "nothing is acknowledged while the batch is not committed");
        await transaction.CommitAsync().WaitAsync(Timeout);

        var outcomes = await commit.WaitAsync(Timeout);
        Assert.Equal([(true, false, 2L), (true, false, 2L)], outcomes.Select(o => (o.Write!.Applied, o.Write.Duplicate, o.Write.Seq)));
        Assert.Single(harness.Events, e => e == 1301);
        var a = await harness.ReadAsync("a", 0).WaitAsync(Timeout);
        Assert.Equal((2L, "1"), (a.Seq, a.Entries.Single().Value!.Value.GetRawText()));
        var replay = await harness.SetAsync("b", "k", "1", mutationId: "m2").WaitAsync(Timeout);
        Assert.True(replay.Write is { Duplicate: true, Seq: 2 });
    }

    [Fact]
    public async Task Without_PostgreSQL_binaries_the_test_server_fails_with_how_to_install_them()
    {
        using var empty = new TempDirectory();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => PostgresServerProcess.StartAsync(searchPath: empty.Path, debianRoot: empty.Path));

        Assert.Equal(PostgresServerProcess.NotInstalled, error.Message);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().WaitAsync(Timeout);
    }

    /// <summary>Waits until a session of the database waits for a lock.</summary>
    private static async Task WaitForLockWaitAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().WaitAsync(Timeout);
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", connection);
        var deadline = DateTime.UtcNow + Timeout;
        while ((long)(await command.ExecuteScalarAsync().WaitAsync(Timeout))! == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the batch never waited for room b");
            await Task.Delay(10);
        }
    }
}
