using CollabHub.Client;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// One Hub.Server shared by a test class or collection (each test uses its own rooms), started with
/// <paramref name="settings"/> in <paramref name="environment"/>.
/// </summary>
public abstract class HubServerFixture(IReadOnlyDictionary<string, string> settings, string environment = "Development") : IAsyncLifetime
{
    private HubServerProcess? _server;

    internal HubCluster Cluster { get; } = new();

    internal HubServerProcess Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public Uri HubUrl => Server.HubUrl;

    public string DatabasePath => Cluster.DatabasePath;

    public async Task InitializeAsync() => _server = await Cluster.StartServerAsync(settings, environment);

    public virtual Task DisposeAsync() => Cluster.DisposeAsync().AsTask();
}

/// <summary>One server with the small test limits (<see cref="TestSettings.Small"/>) shared by a test class.</summary>
public sealed class ServerFixture() : HubServerFixture(TestSettings.Small)
{
    /// <summary>
    /// A started connection (<see cref="CollabConnection"/>: the wire contract as is) as <paramref name="name"/>, on
    /// <paramref name="transport"/> (null: the defaults, which negotiate).
    /// </summary>
    public Task<CollabConnection> ConnectAsync(string name, ClientTransport? transport = null) => TestClients.OpenConnectionAsync(Server.HubUrl, name, transport);
}

/// <summary>Settings the shared test servers run with: small limits, so limits are cheap to reach.</summary>
internal static class TestSettings
{
    public const int MaxPageItems = 20;
    public const int JoinMessages = 5;
    public const int MaxValueBytes = 4096;
    public const int MaxRoomsPerConnection = 8;

    /// <summary>Rooms of more users are counted, not listed (Hub.Tests/js/sdk-tests.mjs relies on this value).</summary>
    public const int MaxListedPresence = 4;

    public static IReadOnlyDictionary<string, string> Small { get; } = new Dictionary<string, string>
    {
        ["CollabHub:Limits:MaxPageItems"] = MaxPageItems.ToString(),
        ["CollabHub:Limits:JoinMessages"] = JoinMessages.ToString(),
        ["CollabHub:Limits:MaxValueBytes"] = MaxValueBytes.ToString(),
        ["CollabHub:Limits:MaxBodyBytes"] = MaxValueBytes.ToString(),
        ["CollabHub:Limits:MaxSignalBytes"] = "1024",
        ["CollabHub:Limits:MaxRoomsPerConnection"] = MaxRoomsPerConnection.ToString(),
        // Pages of 20 items make a room's reads many times more than with the default 500: the read limits scale with them.
        ["CollabHub:Limits:Rates:ReadsPerSecond"] = "1000",
        ["CollabHub:Limits:Rates:ReadBurst"] = "5000",
        ["CollabHub:Presence:MaxListed"] = MaxListedPresence.ToString(),
    };
}
