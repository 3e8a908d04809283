using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using CollabHub.Tests.Infrastructure;
using CollabHub.Tests.Security;

namespace CollabHub.Tests.Shutdown;

/// <summary>
/// What a draining instance shows the outside, while a write it received waits for the database (the test holds
/// SQLite's write lock): new connections get 503 with Retry-After and /readyz 503; once the database is free the
/// write is acknowledged, the client gets a close without an error, and the process exits within DrainTimeout.
/// </summary>
public sealed class DrainTests
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task A_draining_instance_refuses_new_connections_acknowledges_the_writes_it_has_then_closes_cleanly_within_the_drain_timeout()
    {
        using var folder = new TempDirectory();
        var database = folder.File("collabhub.db");
        await using var server = await HubServerProcess.StartAsync(database, new Dictionary<string, string>
        {
            ["CollabHub:Shutdown:DrainTimeout"] = DrainTimeout.ToString(),
        });
        await using var live = await TestClients.OpenConnectionAsync(server.HubUrl, "live", ClientTransport.DirectWebSockets);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        live.Closed += error => closed.TrySetResult(error);
        var room = TestClients.NewRoom("drain");
        await live.JoinAsync(room).Within();
        using var http = new HttpClient { Timeout = TestClients.Timeout };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(server.BaseUrl, "/readyz"))).StatusCode);

        // Another writer holds the database: the next write waits in the server.
        await using var blocker = new SqliteConnection($"Data Source={database}");
        await blocker.OpenAsync();
        var holding = blocker.BeginTransaction();
        var write = live.SetAsync(room, "k", "written during the drain");
        await Task.Delay(300);

        var clock = Stopwatch.StartNew();
        var stopping = server.StopAsync();
        await Eventually.HoldsAsync(async () => (await http.GetAsync(new Uri(server.BaseUrl, "/readyz"))).StatusCode == HttpStatusCode.ServiceUnavailable,
            () => "/readyz to answer 503 once the drain began", TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(50));
        var negotiate = await http.PostAsync(new Uri(server.BaseUrl, "/hubs/collab/negotiate?negotiateVersion=1&name=late"), null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, negotiate.StatusCode);
        Assert.True(negotiate.Headers.RetryAfter is not null, "a refused negotiate says when to retry");
        Assert.False(write.IsCompleted, "the write waits for the database");
        Assert.False(closed.Task.IsCompleted, "the connection stays open while its write is in flight");

        holding.Rollback();
        var result = await write.Within();
        Assert.True(result.Applied, "the write received before the drain is committed and acknowledged");
        // Then the close: a close message without an error, which the SDKs take as "reconnect now".
        Assert.Null(await closed.Task.Within());
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed < DrainTimeout, $"SIGTERM to exit took {clock.Elapsed}, not under the drain timeout ({DrainTimeout})\n{server.Output}");
        Assert.Contains("Drained in", server.Output, StringComparison.Ordinal);
    }
}
