using System.Security.Cryptography;
using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>
/// A real Hub.Server in Production with JWT (HS256 tokens signed with <see cref="Key"/>) and private rooms
/// (<c>CollabHub:Rooms:DefaultAccess = Private</c>), on its own SQLite file, with any further settings a test needs.
/// </summary>
internal sealed class PrivateProductionServer : IAsyncDisposable
{
    private readonly HubCluster _cluster;

    private PrivateProductionServer(HubCluster cluster, HubServerProcess server, byte[] key)
    {
        _cluster = cluster;
        Server = server;
        Key = key;
    }

    public HubServerProcess Server { get; }

    public byte[] Key { get; }

    public Uri HubUrl => Server.HubUrl;

    public string DatabasePath => _cluster.DatabasePath;

    public static async Task<PrivateProductionServer> StartAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        var cluster = new HubCluster();
        var key = RandomNumberGenerator.GetBytes(48);
        var all = new Dictionary<string, string>
        {
            ["CollabHub:Auth:SigningKey"] = "base64:" + Convert.ToBase64String(key),
            ["CollabHub:Auth:Issuer"] = ProductionServerFixture.Issuer,
            ["CollabHub:Auth:Audience"] = ProductionServerFixture.Audience,
            ["CollabHub:Rooms:DefaultAccess"] = "Private",
        };
        foreach (var (name, value) in settings ?? new Dictionary<string, string>())
        {
            all[name] = value;
        }
        try
        {
            return new PrivateProductionServer(cluster, await cluster.StartServerAsync(all, environment: "Production"), key);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>A token this server accepts (10 minutes unless told), for <paramref name="sub"/> with an optional <c>name</c>.</summary>
    public string Token(string sub, string? name = null, TimeSpan? lifetime = null) =>
        TestTokens.Hs256(Key, TestTokens.Claims(sub, name, ProductionServerFixture.Issuer, ProductionServerFixture.Audience,
            DateTimeOffset.UtcNow + (lifetime ?? TimeSpan.FromMinutes(10))));

    /// <summary>A token signed with this server's key carrying exactly <paramref name="claims"/>.</summary>
    public string Token(IReadOnlyDictionary<string, object?> claims) => TestTokens.Hs256(Key, claims);

    /// <summary>A raw SignalR WebSocket to the hub as <paramref name="sub"/>, the token in the <c>Authorization</c> header (so it may be large).</summary>
    public Task<RawSignalRSocket> ConnectAsync(string sub, string? name = null) =>
        RawSignalRSocket.ConnectAsync(new Uri($"ws://{HubUrl.Authority}{HubUrl.AbsolutePath}"), handshake: true, bearer: Token(sub, name));

    /// <summary>The hub's WebSocket URL with <paramref name="token"/> as <c>access_token</c> and any more query.</summary>
    public Uri WebSocketUrl(string token, string? query = null) =>
        new($"ws://{HubUrl.Authority}{HubUrl.AbsolutePath}?{(query is null ? "" : query + "&")}access_token={Uri.EscapeDataString(token)}");

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();
}

/// <summary>
/// The attack tests of issue 15 share one private Production server (each test uses its own users and rooms), with
/// the settings the attacks need: signal rates high enough to fill a stuck member's socket buffers, a small per-user
/// read budget, and a short message retention purged every second. Settings the build does not know yet are ignored
/// by it, so the tests run (and fail) on code without the fixes.
/// </summary>
public sealed class AttackServerFixture : IAsyncLifetime
{
    /// <summary>Signals per second and burst, per connection and per user.</summary>
    public const int SignalRate = 10_000;

    /// <summary>The per-user read budget: bytes per second and burst.</summary>
    public const int UserReadBytesPerSecond = 64 * 1024;
    public const int UserReadBytesBurst = 128 * 1024;

    /// <summary>Messages a room keeps.</summary>
    public const int RetainedMessages = 100;

    private PrivateProductionServer? _server;

    internal PrivateProductionServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public async Task InitializeAsync() => _server = await PrivateProductionServer.StartAsync(new Dictionary<string, string>
    {
        ["CollabHub:Limits:Rates:SignalsPerSecond"] = SignalRate.ToString(),
        ["CollabHub:Limits:Rates:SignalBurst"] = SignalRate.ToString(),
        ["CollabHub:Limits:Rates:UserSignalsPerSecond"] = SignalRate.ToString(),
        ["CollabHub:Limits:Rates:UserSignalBurst"] = SignalRate.ToString(),
        ["CollabHub:Limits:Rates:ReadsPerSecond"] = "20",
        ["CollabHub:Limits:Rates:ReadBurst"] = "100",
        ["CollabHub:Limits:Rates:UserReadBytesPerSecond"] = UserReadBytesPerSecond.ToString(),
        ["CollabHub:Limits:Rates:UserReadBytesBurst"] = UserReadBytesBurst.ToString(),
        ["CollabHub:Store:Retention:Messages"] = RetainedMessages.ToString(),
        ["CollabHub:Store:PurgeInterval"] = "00:00:01",
    });

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class AttackServerCollection : ICollectionFixture<AttackServerFixture>
{
    public const string Name = "Attack server";
}
