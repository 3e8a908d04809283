using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Convergence;

/// <summary>
/// One redis-server and three Hub.Server instances on one SQLite file, each instance behind its own
/// <see cref="TcpProxy"/> (clients connect through the proxies; the test reads the store directly).
/// </summary>
internal sealed class ConvergenceCluster : IAsyncDisposable
{
    private readonly HubCluster _cluster = new();
    private readonly List<TcpProxy> _proxies = [];

    private ConvergenceCluster()
    {
    }

    public RedisServerProcess Redis => _cluster.Redis;

    public IReadOnlyList<HubServerProcess> Servers => _cluster.Servers;

    public IReadOnlyList<TcpProxy> Proxies => _proxies;

    /// <summary>The hub URL clients of instance <paramref name="instance"/> use: through its proxy.</summary>
    public Uri ClientUrl(int instance) => _proxies[instance].Url(Servers[instance].HubUrl);

    /// <param name="instances">How many Hub.Server processes.</param>
    /// <param name="backplaneProvider"><c>CollabHub:Backplane:Provider</c>: <c>CollabHub</c> or <c>SignalR</c>.</param>
    public static async Task<ConvergenceCluster> StartAsync(int instances, string backplaneProvider)
    {
        var cluster = new ConvergenceCluster();
        try
        {
            var redis = await cluster._cluster.StartRedisAsync();
            var settings = new Dictionary<string, string>(TestSettings.Small)
            {
                ["CollabHub:Redis"] = redis.ConnectionString,
                ["CollabHub:RedisPrefix"] = "convergence",
                ["CollabHub:Backplane:Provider"] = backplaneProvider,
                ["CollabHub:Presence:HeartbeatInterval"] = "00:00:00.500",
                ["CollabHub:Presence:InstanceExpiry"] = "00:00:02",
                ["Logging:LogLevel:Default"] = "Warning",
                ["Logging:LogLevel:CollabHub"] = "Information",
                ["Logging:Console:FormatterOptions:TimestampFormat"] = "HH:mm:ss.fff ",
                ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
            };
            foreach (var server in await cluster._cluster.StartServersAtOnceAsync(instances, settings))
            {
                cluster._proxies.Add(cluster._cluster.ProxyTo(server));
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
    public string ServerOutput(int tailChars = 4000) => _cluster.ServerOutput(tailChars);

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();
}
