using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Convergence;

// Issue 13 §3: a rolling restart behind docs/nginx.conf.example, with the convergence test's clients and checks.
public sealed partial class ConvergenceTests
{
    private const int RestartDotNetClients = 14;
    private const int RestartJsClients = 6;

    /// <summary>CollabHub:Shutdown:DrainTimeout's default, which the instances run with.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longer than the SDKs' "stable connection" time (5 s): a client that moved in the first restart reconnects at
    /// once in the second as well, instead of counting it as a flapping connection.
    /// </summary>
    private static readonly TimeSpan BetweenRestarts = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task A_rolling_restart_behind_nginx_fails_no_write_stores_each_once_and_each_instance_drains_within_the_drain_timeout()
    {
        JsConvergenceClient.AssertNodeInstalled();
        _ = NginxProcess.Executable;
        var report = new StringBuilder();
        void Log(string line)
        {
            lock (report)
            {
                report.AppendLine(line);
            }
            output.WriteLine(line);
        }

        var cluster = new HubCluster();
        NginxProcess? nginx = null;
        var clients = new List<IConvergenceClient>();
        try
        {
            var redis = await cluster.StartRedisAsync();
            var settings = new Dictionary<string, string>(TestSettings.Small)
            {
                ["CollabHub:Redis"] = redis.ConnectionString,
                ["CollabHub:RedisPrefix"] = "rolling",
                ["CollabHub:Auth:SigningKey"] = "base64:" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48)),
                ["Logging:LogLevel:Default"] = "Warning",
                ["Logging:LogLevel:CollabHub"] = "Information",
                ["Logging:Console:FormatterOptions:TimestampFormat"] = "HH:mm:ss.fff ",
                ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
            };
            var servers = new[] { await cluster.StartServerAsync(settings), await cluster.StartServerAsync(settings) };
            nginx = cluster.Track(await NginxProcess.StartAsync(servers[0].BaseUrl, servers[1].BaseUrl));

            var roomId = TestClients.NewRoom("rolling");
            var starting = new List<Task<IConvergenceClient>>();
            for (var i = 0; i < RestartDotNetClients; i++)
            {
                var name = $"net{i}";
                starting.Add(Task.Run(async () => (IConvergenceClient)await DotNetConvergenceClient.StartAsync(name, 0, nginx.HubUrl, roomId)));
            }
            for (var i = 0; i < RestartJsClients; i++)
            {
                // Half negotiate (sticky upstream), half open the WebSocket directly (least_conn upstream).
                var (name, skipNegotiation) = ($"js{i}", i % 2 == 1);
                starting.Add(Task.Run(async () => (IConvergenceClient)await JsConvergenceClient.StartAsync(name, 0, nginx.HubUrl, roomId, skipNegotiation)));
            }
            try
            {
                clients.AddRange(await Task.WhenAll(starting));
            }
            catch
            {
                clients.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
                throw;
            }

            var ledger = new ConcurrentQueue<WriteRecord>();
            var writeClock = Stopwatch.StartNew();
            using var stopWriting = new CancellationTokenSource();
            var writers = clients.Select((client, index) => Task.Run(() => WriteLoopAsync(client, new Random(index), ledger, writeClock, stopWriting.Token))).ToList();
            await Task.Delay(TimeSpan.FromSeconds(2));

            var stops = new List<TimeSpan>();
            for (var i = 0; i < servers.Length; i++)
            {
                var stop = Stopwatch.StartNew();
                await servers[i].StopAsync();
                stops.Add(stop.Elapsed);
                Log($"[{writeClock.Elapsed.TotalSeconds,6:0.0}s] instance {i}: SIGTERM to exit in {stop.Elapsed.TotalMilliseconds:0} ms");
                await servers[i].RestartAsync();
                Log($"[{writeClock.Elapsed.TotalSeconds,6:0.0}s] instance {i}: listening again ({stop.Elapsed.TotalSeconds:0.0} s after the SIGTERM)");
                await Task.Delay(BetweenRestarts);
            }
            stopWriting.Cancel();
            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(10));

            var stuck = await DrainAsync(clients, ledger);
            Assert.True(stuck is null, $"Writes did not complete within {DrainDeadline.TotalSeconds} s after the restarts:\n{stuck}\n{report}\n{cluster.ServerOutput(6000)}");
            var store = await ReadStoreAsync(servers[0].HubUrl, roomId, "auditor");
            var failures = new List<string>(store.Problems);
            failures.AddRange(await WaitCaughtUpAsync(clients, store.Seq));
            failures.AddRange(CheckWrites([.. ledger], store));
            foreach (var client in clients)
            {
                failures.AddRange(CheckReplica(client, await client.SnapshotAsync(), store));
            }
            failures.AddRange(stops.Select((took, i) => (took, i)).Where(s => s.took >= DrainTimeout)
                .Select(s => $"instance {s.i} took {s.took.TotalSeconds:0.0} s from SIGTERM to exit, not under the drain timeout ({DrainTimeout.TotalSeconds} s)"));
            Log($"{ledger.Count} writes, store seq {store.Seq}, {failures.Count} problem(s)");
            Assert.True(failures.Count == 0, $"The rolling restart lost or broke something:\n{string.Join("\n", failures.Take(100))}\n{report}\n{cluster.ServerOutput(6000)}");
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"The rolling-restart test broke: {ex}\n{report}\n{cluster.ServerOutput(6000)}\n{nginx?.Diagnostics}\n"
                + ConvergenceClientSet.JsStdErr(clients));
        }
        finally
        {
            await ConvergenceClientSet.DisposeAllAsync(clients, output);
            await cluster.DisposeAsync();
        }
    }
}
