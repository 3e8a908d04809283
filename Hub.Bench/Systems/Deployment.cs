using System.Text.RegularExpressions;
using CollabHub.Bench.Driver;
using CollabHub.Bench.Processes;

namespace CollabHub.Bench.Systems;

/// <summary>
/// One system under test, running: its server instances (each a process on a free loopback port), and the Redis and
/// PostgreSQL it needs. <see cref="Meter"/> covers all of them: their CPU and memory are the system's cost.
/// </summary>
internal sealed partial class Deployment : IAsyncDisposable
{
    /// <summary>CollabHub's settings for a benchmark: limits meant for abuse raised so they do not shape the load.</summary>
    private static readonly Dictionary<string, string> CollabHubSettings = new()
    {
        ["CollabHub__Limits__Rates__WritesPerSecond"] = "1000000",
        ["CollabHub__Limits__Rates__WriteBurst"] = "1000000",
        ["CollabHub__Limits__Rates__UserWritesPerSecond"] = "1000000",
        ["CollabHub__Limits__Rates__UserWriteBurst"] = "1000000",
        ["CollabHub__Limits__MaxConnectionsPerUser"] = "100000",
    };

    private readonly List<ChildProcess> _servers = [];
    private RedisServer? _redis;
    private PostgresServer? _postgres;

    private Deployment(SystemSpec system) => System = system;

    public SystemSpec System { get; }

    /// <summary>When set (by <see cref="DeploymentPool"/>), disposing leaves it running for the next user; <see cref="StopAsync"/> stops it.</summary>
    public bool KeepRunning { get; set; }

    /// <summary>Where clients connect, one per instance: the hub URL for SignalR, the server URL for Socket.IO.</summary>
    public List<Uri> Urls { get; } = [];

    /// <summary>Whether it has been loaded for the bench's warm-up already (a deployment reused by <c>--quick</c> is warmed once).</summary>
    public bool WarmedUp { get; set; }

    public ProcessMeter Meter { get; private set; } = new([]);

    public static async Task<Deployment> StartAsync(SystemSpec system, int instances, BenchEnvironment environment)
    {
        var deployment = new Deployment(system);
        try
        {
            if (system.Redis)
            {
                deployment._redis = await RedisServer.StartAsync();
            }
            if (system.Store == StoreKind.Postgres)
            {
                deployment._postgres = await PostgresServer.StartAsync();
            }
            var data = Path.Combine(environment.WorkFolder, "data-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(data);
            // Instances start side by side; a failed one fails the deployment, and the ones that started are stopped.
            var starting = Enumerable.Range(0, instances).Select(_ => deployment.StartServerAsync(environment, data)).ToList();
            try
            {
                await Task.WhenAll(starting);
            }
            finally
            {
                foreach (var start in starting.Where(s => s.IsCompletedSuccessfully))
                {
                    deployment._servers.Add(start.Result.Process);
                    deployment.Urls.Add(start.Result.Url);
                }
            }
            var pids = deployment._servers.Select(s => s.Id).ToList();
            if (deployment._redis is not null)
            {
                pids.Add(deployment._redis.ProcessId);
            }
            if (deployment._postgres is not null)
            {
                pids.Add(deployment._postgres.ProcessId);
            }
            deployment.Meter = new ProcessMeter(pids);
            return deployment;
        }
        catch
        {
            await deployment.StopAsync();
            throw;
        }
    }

    /// <summary>A new client of this system, connected to instance <paramref name="instance"/> (or to <paramref name="url"/>, a proxy in front of it).</summary>
    public IBenchClient Client(string name, int instance = 0, Uri? url = null) => System.Server == ServerKind.SocketIO
        ? new SocketIoBenchClient(url ?? Urls[instance], name)
        : new SignalRBenchClient(url ?? Urls[instance], name);

    private async Task<(ChildProcess Process, Uri Url)> StartServerAsync(BenchEnvironment environment, string data)
    {
        var start = System.Server switch
        {
            ServerKind.CollabHub => ChildProcess.Command("dotnet", environment.ServerDll, "--urls", "http://127.0.0.1:0"),
            ServerKind.BareSignalR => ChildProcess.Command("dotnet", [BenchEnvironment.BenchDll, BareHub.BareServer.Command, "--urls", "http://127.0.0.1:0", .. _redis is null ? [] : new[] { "--redis", _redis.ConnectionString }]),
            _ => ChildProcess.Command("node", "server.js"),
        };
        start.WorkingDirectory = System.Server == ServerKind.SocketIO ? RepoPaths.SocketIoServer : data;
        if (System.Server == ServerKind.SocketIO)
        {
            start.Environment["PORT"] = "0";
            if (_redis is not null)
            {
                start.Environment["REDIS_URL"] = $"redis://{_redis.ConnectionString}";
            }
        }
        else
        {
            start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
            start.Environment["DOTNET_ENVIRONMENT"] = "Development";
            start.Environment["Logging__Console__FormatterName"] = "simple";
            start.Environment["Logging__LogLevel__Default"] = "Warning";
            start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
            // The warm-up is there to measure code at its final tier. By default .NET starts counting a method's calls
            // (its way to the optimized tier) only once no new method has run for 100 ms, and a fresh server under the
            // warm-up's mixed load kept postponing it: after 10 s of warm-up, a join storm still compiled its whole path
            // (1,154 methods; 18 % of the server's CPU). Counting from the start, the warm-up promotes what it runs.
            // Both .NET servers get it; it changes when code is optimized, not how.
            start.Environment["DOTNET_TC_CallCountingDelayMs"] = "0";
        }
        if (System.Server == ServerKind.CollabHub)
        {
            foreach (var (key, value) in CollabHubSettings)
            {
                start.Environment[key] = value;
            }
            if (_postgres is not null)
            {
                start.Environment["CollabHub__Store__Provider"] = "Postgres";
                start.Environment["CollabHub__Store__ConnectionString"] = _postgres.ConnectionString;
            }
            else
            {
                start.Environment["CollabHub__Store__ConnectionString"] = $"Data Source={Path.Combine(data, "collabhub.db")}";
            }
            if (_redis is not null)
            {
                start.Environment["CollabHub__Redis"] = _redis.ConnectionString;
            }
        }
        var (process, ready) = await ChildProcess.StartAsync(start, ListeningRegex());
        var baseUrl = new Uri(ready.Groups[1].Value);
        return (process, System.Server == ServerKind.SocketIO ? baseUrl : new Uri(baseUrl, "/hubs/collab"));
    }

    /// <summary>What became of the server processes, for an error message: which exited, and the end of their output.</summary>
    public string Describe() => string.Join("\n", _servers.Select((server, i) =>
        $"instance {i} (pid {server.Id}){(server.HasExited ? " has exited" : " runs")}; its output ends:\n{Tail(server.Output, 3000)}"));

    private static string Tail(string text, int length) => text.Length <= length ? text : text[^length..];

    /// <summary>The CollabHub settings the bench uses, for the report.</summary>
    public static IReadOnlyDictionary<string, string> Settings => CollabHubSettings;

    public ValueTask DisposeAsync() => KeepRunning ? ValueTask.CompletedTask : new ValueTask(StopAsync());

    public async Task StopAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    [GeneratedRegex(@"(?:Now listening on:|listening on) (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningRegex();
}
