using CollabHub.Client;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// The real parts a test runs against, started as it asks and ended together: a redis-server if it wants one,
/// Hub.Server instances on one SQLite file in a folder of their own, and the clients, proxies and other processes
/// connected to them. Disposing ends every part in the reverse order it was added (clients before the servers they
/// use, servers before Redis), each one even when another fails to close; the failures are reported after.
/// </summary>
internal sealed class HubCluster : IAsyncDisposable
{
    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _folder = new();
    private readonly List<IAsyncDisposable> _parts = [];
    private readonly List<HubServerProcess> _servers = [];
    private RedisServerProcess? _redis;

    public RedisServerProcess Redis => _redis ?? throw new InvalidOperationException("No redis-server was started.");

    /// <summary>The Hub.Server instances in the order they were started.</summary>
    public IReadOnlyList<HubServerProcess> Servers
    {
        get
        {
            lock (_parts)
            {
                return [.. _servers];
            }
        }
    }

    /// <summary>The SQLite file the instances share unless a test names another.</summary>
    public string DatabasePath => File("collabhub.db");

    /// <summary>A path for <paramref name="name"/> in this cluster's folder.</summary>
    public string File(string name) => _folder.File(name);

    public async Task<RedisServerProcess> StartRedisAsync(RedisServerSettings? settings = null)
    {
        _redis = Track(await RedisServerProcess.StartAsync(settings));
        return _redis;
    }

    /// <summary>
    /// Starts a Hub.Server with <paramref name="settings"/> (configuration keys such as <c>CollabHub:Redis</c>) on
    /// <see cref="DatabasePath"/> unless <paramref name="database"/> names another file.
    /// </summary>
    public async Task<HubServerProcess> StartServerAsync(IReadOnlyDictionary<string, string>? settings = null, string environment = "Development", string? database = null)
    {
        var server = await HubServerProcess.StartAsync(database ?? DatabasePath, settings, environment);
        Add(server);
        return server;
    }

    /// <summary>
    /// Starts <paramref name="count"/> instances at once on <see cref="DatabasePath"/> (the schema migration runs under an
    /// exclusive transaction, so exactly one of them creates it), listed in <see cref="Servers"/> in this order.
    /// </summary>
    public async Task<HubServerProcess[]> StartServersAtOnceAsync(int count, IReadOnlyDictionary<string, string> settings)
    {
        var starting = Enumerable.Range(0, count).Select(_ => HubServerProcess.StartAsync(DatabasePath, settings)).ToList();
        try
        {
            await Task.WhenAll(starting);
        }
        finally
        {
            foreach (var started in starting.Where(t => t.IsCompletedSuccessfully))
            {
                Add(started.Result);
            }
        }
        return [.. starting.Select(t => t.Result)];
    }

    /// <summary>A started <see cref="CollabConnection"/> (the wire contract as is) to <paramref name="server"/>, ended with the cluster.</summary>
    public async Task<CollabConnection> OpenConnectionAsync(HubServerProcess server, string name, ClientTransport? transport = null) =>
        Track(await TestClients.OpenConnectionAsync(server.HubUrl, name, transport));

    /// <summary>A started <see cref="CollabClient"/> (the SDK) to <paramref name="hubUrl"/>, ended with the cluster.</summary>
    public async Task<CollabClient> ConnectClientAsync(Uri hubUrl, string name, ClientTransport? transport = null) =>
        Track(await TestClients.ConnectAsync(hubUrl, name, transport));

    /// <summary>A <see cref="TcpProxy"/> in front of <paramref name="server"/> (a cable to cut or block), ended with the cluster.</summary>
    public TcpProxy ProxyTo(HubServerProcess server) => Track(TcpProxy.Start(server.BaseUrl));

    /// <summary>Ends <paramref name="part"/> with the cluster, before everything added earlier.</summary>
    public T Track<T>(T part) where T : IAsyncDisposable
    {
        lock (_parts)
        {
            _parts.Add(part);
        }
        return part;
    }

    private void Add(HubServerProcess server)
    {
        lock (_parts)
        {
            _parts.Add(server);
            _servers.Add(server);
        }
    }

    /// <summary>The tail of each instance's output, for a failure report.</summary>
    public string ServerOutput(int tailChars = 4000) => string.Join("\n", Servers.Select((server, i) =>
    {
        var text = server.Output;
        return $"--- instance {i} output (last {tailChars} chars) ---\n{(text.Length > tailChars ? text[^tailChars..] : text)}";
    }));

    public async ValueTask DisposeAsync()
    {
        IAsyncDisposable[] parts;
        lock (_parts)
        {
            parts = [.. _parts];
            _parts.Clear();
        }
        var failures = new List<Exception>();
        for (var i = parts.Length - 1; i >= 0; i--)
        {
            try
            {
                await parts[i].DisposeAsync().AsTask().WaitAsync(DisposeTimeout);
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }
        _folder.Dispose();
        if (failures.Count > 0)
        {
            throw new AggregateException("Ending the test's servers and clients failed", failures);
        }
    }
}
