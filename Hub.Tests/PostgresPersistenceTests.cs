using CollabHub.Client;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>Real server processes with <c>CollabHub:Store:Provider = Postgres</c>, sharing one PostgreSQL database.</summary>
public sealed class PostgresPersistenceTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static Dictionary<string, string> Settings(string connectionString) => new()
    {
        ["CollabHub:Store:Provider"] = "Postgres",
        ["CollabHub:Store:ConnectionString"] = connectionString,
    };

    /// <summary>Waits for all the servers; if one fails to start, stops the others.</summary>
    private static async Task<HubServerProcess[]> StartAllAsync(params Task<HubServerProcess>[] starting)
    {
        var servers = new List<HubServerProcess>();
        Exception? failure = null;
        foreach (var start in starting)
        {
            try
            {
                servers.Add(await start);
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
        }
        if (failure is not null)
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
            throw failure;
        }
        return [.. servers];
    }

    [Fact]
    public async Task Two_server_processes_on_one_PostgreSQL_database_keep_the_seq_gapless_and_exactly_once_and_the_data_survives_a_restart()
    {
        using var folder = new TempDirectory();
        var settings = Settings(await postgres.CreateDatabaseAsync().Within());
        var room = TestClients.NewRoom();
        const int users = 4, perUser = 40;

        // Both start at once on an empty database: one migrates the schema, the other waits for it.
        var servers = await StartAllAsync(HubServerProcess.StartAsync(folder.File("a"), settings), HubServerProcess.StartAsync(folder.File("b"), settings));
        await using var first = servers[0];
        await using var second = servers[1];
        Assert.Single(new[] { first.Output, second.Output }, output => output.Contains("Store schema migrated", StringComparison.Ordinal));

        // Each user is connected to both processes and sends every write through both at the same time, with one
        // mutation id: applied once, the other answer a duplicate with the same seq.
        var clients = new List<(CollabClient OnFirst, CollabClient OnSecond)>();
        try
        {
            for (var u = 0; u < users; u++)
            {
                var onFirst = await TestClients.ConnectAsync(first.HubUrl, $"user{u}");
                var onSecond = await TestClients.ConnectAsync(second.HubUrl, $"user{u}");
                clients.Add((onFirst, onSecond));
                await onFirst.JoinAsync(room).Within();
                await onSecond.JoinAsync(room).Within();
            }

            var writes = clients.SelectMany((client, u) => Enumerable.Range(0, perUser).Select(i =>
            {
                var options = new WriteOptions($"u{u}-w{i}");
                return Task.WhenAll(
                    client.OnFirst.SetAsync(room, $"key{i % 10}", u * 1000 + i, options),
                    client.OnSecond.SetAsync(room, $"key{i % 10}", u * 1000 + i, options));
            })).ToList();
            var results = await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(90));

            Assert.All(results, pair => Assert.Equal(pair[0].Seq, pair[1].Seq));
            Assert.All(results, pair => Assert.Single(pair, r => r is { Applied: true, Duplicate: false }));
            Assert.Equal(Enumerable.Range(1, users * perUser).Select(i => (long)i), results.Select(pair => pair[0].Seq).Order());
            var sync = await clients[1].OnFirst.SyncAsync(room, 0).Within();
            Assert.Equal(users * perUser, sync.Seq);
        }
        finally
        {
            foreach (var (onFirst, onSecond) in clients)
            {
                await onFirst.DisposeAsync();
                await onSecond.DisposeAsync();
            }
        }

        await first.StopAsync().Within();
        await second.StopAsync().Within();
        await using var restarted = await HubServerProcess.StartAsync(folder.File("c"), settings);
        await using var reader = await TestClients.ConnectAsync(restarted.HubUrl, "bob");
        var joined = await reader.JoinAsync(room).Within();
        Assert.Equal(users * perUser, joined.Seq);
        Assert.Equal(10, joined.Entries.Count);
        var retry = await reader.SetAsync(room, "after", true).Within();
        Assert.Equal(users * perUser + 1, retry.Seq);
    }
}
