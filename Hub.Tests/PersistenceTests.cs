using System.Net.WebSockets;
using CollabHub.Client;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.Http.Connections;

namespace CollabHub.Tests;

/// <summary>What lives in the database: across restarts, across processes sharing one SQLite file, and past the purge.</summary>
public sealed class PersistenceTests
{
    [Fact]
    public async Task Data_survives_a_server_restart_and_the_seq_continues()
    {
        using var folder = new TempDirectory();
        var db = folder.File("collabhub.db");
        var room = TestClients.NewRoom();

        await using (var server = await HubServerProcess.StartAsync(db))
        {
            await using var client = await TestClients.OpenConnectionAsync(server.HubUrl, "ada");
            await client.JoinAsync(room).Within();
            await client.SetAsync(room, "title", "before restart").Within();
            await client.PostAsync(room, "hello").Within();
            await client.SetAsync(room, "gone", 1).Within();
            await client.DeleteAsync(room, "gone").Within();
        }

        await using (var server = await HubServerProcess.StartAsync(db))
        {
            await using var client = await TestClients.OpenConnectionAsync(server.HubUrl, "bob");
            var joined = await client.JoinAsync(room).Within();
            Assert.Equal(4, joined.Seq);
            Assert.Equal("before restart", joined.Entries.Single().Value!.Value.GetString());
            Assert.Equal("hello", joined.Messages.Single().Body.GetString());
            var next = await client.SetAsync(room, "after", true).Within();
            Assert.Equal(5, next.Seq);
        }
    }

    [Fact]
    public async Task Two_server_processes_writing_one_SQLite_file_keep_the_seq_gapless_and_exactly_once()
    {
        using var folder = new TempDirectory();
        var db = folder.File("collabhub.db");
        var room = TestClients.NewRoom();
        await using var first = await HubServerProcess.StartAsync(db);
        await using var second = await HubServerProcess.StartAsync(db);
        var clients = new List<CollabConnection>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var client = await TestClients.OpenConnectionAsync((i % 2 == 0 ? first : second).HubUrl, $"user{i}");
                await client.JoinAsync(room).Within();
                clients.Add(client);
            }

            const int perClient = 50;
            // Each write is sent twice with one mutation id, once through each process: applied exactly once.
            var writes = clients.SelectMany((client, c) => Enumerable.Range(0, perClient).Select(async i =>
            {
                var mutation = $"c{c}-w{i}";
                var result = await client.SetAsync(room, $"key{i % 10}", c * 1000 + i, new(mutation));
                return (mutation, result);
            })).ToList();
            var results = await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(60));
            var retries = await Task.WhenAll(clients.Select((client, c) => client.SetAsync(room, "key0", -1, new($"c{c}-w0")))).Within();

            Assert.Equal(Enumerable.Range(1, clients.Count * perClient).Select(i => (long)i), results.Select(r => r.result.Seq).Order());
            Assert.All(retries, r => Assert.True(r.Duplicate));
            var sync = await clients[1].SyncAsync(room, 0).Within();
            Assert.Equal(clients.Count * perClient, sync.Seq);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_join_from_before_the_purge_horizon_gets_a_full_snapshot()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), new Dictionary<string, string>
        {
            ["CollabHub:Store:TombstoneRetention"] = "00:00:01",
            ["CollabHub:Store:PurgeInterval"] = "00:00:01",
        });
        await using var client = await TestClients.OpenConnectionAsync(server.HubUrl, "ada");
        var room = TestClients.NewRoom();
        await client.JoinAsync(room).Within();
        await client.SetAsync(room, "keep", 1).Within();
        await client.SetAsync(room, "gone", 2).Within();
        await client.DeleteAsync(room, "gone").Within();

        var deadline = DateTime.UtcNow + TestClients.Timeout;
        JoinResultShape stale;
        do
        {
            await Task.Delay(250);
            var joined = await client.JoinAsync(room, sinceSeq: 1).Within();
            stale = new(joined.Full, joined.Entries.Select(e => e.Key).ToList());
        }
        while (!stale.Full && DateTime.UtcNow < deadline);

        Assert.True(stale.Full, "the tombstone was purged, so a delta from seq 1 would miss the delete");
        Assert.Equal(["keep"], stale.Keys);
        Assert.False((await client.JoinAsync(room, sinceSeq: 3).Within()).Full);
    }

    private sealed record JoinResultShape(bool Full, List<string> Keys);

    [Fact]
    public async Task Outside_Development_a_connection_without_identity_is_refused()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), environment: "Production");
        await using var client = new CollabConnection(new CollabClientOptions { Url = server.HubUrl, Name = "ada" });

        // SignalR's client reports the refused negotiate request with its status.
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.StartAsync().Within());
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, error.StatusCode);

        // Without negotiation, the refusal is the WebSocket upgrade's: a WebSocketException whose message names the status.
        await using var direct = new CollabConnection(new CollabClientOptions
        {
            Url = server.HubUrl,
            Name = "ada",
            Transports = HttpTransportType.WebSockets,
            SkipNegotiation = true,
        });
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => direct.StartAsync().Within());
        Assert.Contains("'401'", refused.Message, StringComparison.Ordinal);
    }
}
