using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Convergence;

/// <summary>
/// One redis-server and three Hub.Server instances on one SQLite file, each instance behind its own
/// <see cref="TcpProxy"/> (clients connect through the proxies; the test reads the store directly).
/// </summary>
internal sealed class ConvergenceCluster : IAsyncDisposable
{
    private readonly TempDirectory _folder = new();
    private readonly List<HubServerProcess> _servers = [];
    private readonly List<TcpProxy> _proxies = [];

    private ConvergenceCluster()
    {
    }

    public RedisServerProcess Redis { get; private set; } = null!;

    public IReadOnlyList<HubServerProcess> Servers => _servers;

    public IReadOnlyList<TcpProxy> Proxies => _proxies;

    /// <summary>The hub URL clients of instance <paramref name="instance"/> use: through its proxy.</summary>
    public Uri ClientUrl(int instance) => _proxies[instance].Url(_servers[instance].HubUrl);

    /// <param name="instances">How many Hub.Server processes.</param>
    /// <param name="backplaneProvider"><c>CollabHub:Backplane:Provider</c>: <c>CollabHub</c> or <c>SignalR</c>.</param>
    public static async Task<ConvergenceCluster> StartAsync(int instances, string backplaneProvider)
    {
        var cluster = new ConvergenceCluster();
        try
        {
            cluster.Redis = await RedisServerProcess.StartAsync();
            var settings = new Dictionary<string, string>(TestSettings.Small)
            {
                ["CollabHub:Redis"] = $"127.0.0.1:{cluster.Redis.Port}",
                ["CollabHub:RedisPrefix"] = "convergence",
                ["CollabHub:Backplane:Provider"] = backplaneProvider,
                ["CollabHub:Presence:HeartbeatInterval"] = "00:00:00.500",
                ["CollabHub:Presence:InstanceExpiry"] = "00:00:02",
                ["Logging:LogLevel:Default"] = "Warning",
                ["Logging:LogLevel:CollabHub"] = "Information",
                ["Logging:Console:FormatterOptions:TimestampFormat"] = "HH:mm:ss.fff ",
                ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
            };
            var database = cluster._folder.File("collabhub.db");
            // All at once: the schema migration runs under an exclusive transaction, so exactly one of them creates it.
            var starting = Enumerable.Range(0, instances).Select(_ => HubServerProcess.StartAsync(database, settings)).ToList();
            try
            {
                await Task.WhenAll(starting);
            }
            finally
            {
                cluster._servers.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }
            foreach (var server in cluster._servers)
            {
                cluster._proxies.Add(TcpProxy.Start(server.BaseUrl));
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>The servers' output, for a failure report (the tail of each).</summary>
    public string ServerOutput(int tailChars = 4000) => string.Join("\n", _servers.Select((s, i) =>
    {
        var text = s.Output;
        return $"--- instance {i} output (last {tailChars} chars) ---\n{(text.Length > tailChars ? text[^tailChars..] : text)}";
    }));

    public async ValueTask DisposeAsync()
    {
        foreach (var proxy in _proxies)
        {
            await proxy.DisposeAsync();
        }
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
        _folder.Dispose();
    }
}
