using CollabHub.Client;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary>CollabClient's connection: reconnecting to a restarted server, retrying the first connect, giving up when told to, and its states.</summary>
public abstract class ReconnectTests(ClientTransport transport) : IAsyncLifetime
{
    private readonly HubCluster _cluster = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    /// <summary>A server with the small test limits, and a proxy in front of it that the test can block and cut.</summary>
    private async Task<(HubServerProcess Server, TcpProxy Proxy)> StartBehindProxyAsync()
    {
        var server = await _cluster.StartServerAsync(TestSettings.Small);
        return (server, _cluster.ProxyTo(server));
    }

    private CollabClient NewClient(Uri hubUrl, string name, Action<CollabClientOptions>? configure = null) =>
        SdkTestKit.NewClient(hubUrl, name, configure, transport);

    [Fact]
    public async Task A_client_reconnects_when_the_server_restarts_on_the_same_port_and_catches_up_on_what_it_missed()
    {
        var server = await _cluster.StartServerAsync(TestSettings.Small);
        await using var client = NewClient(server.HubUrl, "ada");
        var log = new ClientLog(client);
        var roomId = TestClients.NewRoom();
        await client.StartAsync().Within();
        var room = await client.JoinAsync(roomId).Within();
        var events = new RoomEvents(room);
        await room.SetAsync("before", 1).Within();

        // The client reconnects at once when the drain closes its connection; the draining server refuses it (503), so it
        // cannot hold the stop: SIGTERM to exit within the drain timeout (CollabHub:Shutdown:DrainTimeout, 10 s).
        await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await log.WaitForStateAsync(CollabClientState.Reconnecting);
        Assert.False(room.IsSynced);
        var offline = room.SetAsync("offline", 2);
        Assert.Equal(1, client.PendingWrites);

        await server.RestartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        // Another client writes as soon as the server is back: whether before or after ada's rejoin, she gets it once.
        await using (var bob = await TestClients.OpenConnectionAsync(server.HubUrl, "bob"))
        {
            await bob.JoinAsync(roomId).Within();
            for (var i = 0; i < 5; i++)
            {
                await bob.SetAsync(roomId, $"bob{i % 2}", i).Within();
            }
            await bob.PostAsync(roomId, "hello from bob").Within();

            var written = await offline.Within();
            Assert.True(written.Applied);
            await log.WaitForStateAsync(CollabClientState.Connected, occurrence: 2);
            await SdkTestKit.WaitUntilConvergedAsync(room, bob);
            var store = await bob.SyncAllAsync(roomId);
            Assert.Equal(8, store.Seq); // before, offline, 5 sets, 1 post: each once
            Assert.Single(store.Messages);
        }
        Assert.Equal(0, client.PendingWrites);
        Assert.Equal(["hello from bob"], room.Messages.Select(m => m.Body.GetString()));
        events.AssertGaplessAndOnce();
        // Connecting, Connected, then Reconnecting and Connected in turn (more than once when the client got in while the
        // server was draining), never Disconnected.
        Assert.Equal([CollabClientState.Connecting, CollabClientState.Connected, CollabClientState.Reconnecting], log.Transitions.Take(3));
        Assert.Equal(CollabClientState.Connected, log.States[^1]);
        Assert.All(log.Transitions.Skip(1).Chunk(2), pair => Assert.Equal(CollabClientState.Connected, pair[0]));
    }

    [Fact]
    public async Task The_first_connect_is_retried_until_the_server_can_be_reached()
    {
        var (server, proxy) = await StartBehindProxyAsync();
        proxy.Block();
        await using var client = NewClient(proxy.Url(server.HubUrl), "ada");
        var log = new ClientLog(client);

        var started = client.StartAsync();
        await log.WaitForStateAsync(CollabClientState.Reconnecting);
        await SdkTestKit.WaitUntilAsync(() => proxy.Accepted >= 3, "three refused attempts");
        Assert.False(started.IsCompleted);
        var room = client.OpenRoom(TestClients.NewRoom());
        var early = room.SetAsync("early", true);

        proxy.Unblock();
        await started.Within();

        Assert.Equal(CollabClientState.Connected, client.State);
        Assert.True((await early.Within()).Applied);
        Assert.Equal([CollabClientState.Connecting, CollabClientState.Reconnecting, CollabClientState.Connected], log.Transitions);
        // Each refused attempt was reported, with its error.
        Assert.True(log.States.Count(s => s == CollabClientState.Reconnecting) >= 3, string.Join(" > ", log.States));
        Assert.All(log.StateChanges.Where(c => c.Current == CollabClientState.Reconnecting), c => SdkTestKit.AssertRefusedConnect(c.Error));
    }

    [Fact]
    public async Task A_capped_retry_policy_gives_up_and_StartAsync_fails_with_the_last_error()
    {
        var (server, proxy) = await StartBehindProxyAsync();
        proxy.Block();
        await using var client = NewClient(proxy.Url(server.HubUrl), "ada", o => o.ReconnectMaxAttempts = 3);
        var log = new ClientLog(client);

        SdkTestKit.AssertRefusedConnect(await Assert.ThrowsAnyAsync<Exception>(() => client.StartAsync().Within()));

        Assert.Equal(3, proxy.Accepted);
        Assert.Equal(CollabClientState.Disconnected, client.State);
        Assert.Equal(CollabClientState.Disconnected, log.States[^1]);

        // A new start tries again.
        proxy.Unblock();
        await client.StartAsync().Within();
        Assert.Equal(CollabClientState.Connected, client.State);
    }

    [Fact]
    public async Task States_go_from_connecting_to_connected_to_reconnecting_on_a_drop_and_to_disconnected_on_stop()
    {
        var (server, proxy) = await StartBehindProxyAsync();
        await using var client = NewClient(proxy.Url(server.HubUrl), "ada");
        var log = new ClientLog(client);
        Assert.Equal(CollabClientState.Disconnected, client.State);

        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();
        Assert.True(room.IsSynced);
        await proxy.CutAllAsync().Within();
        await log.WaitForStateAsync(CollabClientState.Reconnecting);
        await log.WaitForStateAsync(CollabClientState.Connected, occurrence: 2);
        await SdkTestKit.WaitUntilAsync(() => room.IsSynced, "the room joined again");
        await client.StopAsync().Within();

        Assert.Equal(
            [CollabClientState.Connecting, CollabClientState.Connected, CollabClientState.Reconnecting, CollabClientState.Connected, CollabClientState.Disconnected],
            log.States);
        Assert.NotNull(log.StateChanges[2].Error);
        Assert.Null(log.StateChanges[4].Error);
        Assert.False(room.IsSynced);
    }

    [Fact]
    public async Task JoinAsync_waits_through_a_reconnect_and_OpenRoom_returns_a_replica_at_once_even_before_the_start()
    {
        var (server, proxy) = await StartBehindProxyAsync();
        await using var writer = await TestClients.OpenConnectionAsync(server.HubUrl, "bob");
        var roomId = TestClients.NewRoom();
        await writer.JoinAsync(roomId).Within();
        await writer.SetAsync(roomId, "title", "Planning").Within();
        await using var client = NewClient(proxy.Url(server.HubUrl), "ada");

        var opened = client.OpenRoom(roomId);
        Assert.Equal(0, opened.Seq);
        Assert.Empty(opened.Entries);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.JoinAsync(roomId).Within());

        proxy.Block();
        client.Start();
        var joining = client.JoinAsync(roomId);
        await Task.Delay(300);
        Assert.False(joining.IsCompleted);
        proxy.Unblock();

        Assert.Same(opened, await joining.Within());
        Assert.Equal("Planning", opened.Text("title"));
        Assert.Equal(1, opened.Seq);
        Assert.Same(opened, await client.JoinAsync(roomId).Within());
    }

    [Fact]
    public async Task While_the_server_cannot_be_reached_every_failed_attempt_raises_the_state_with_its_reason()
    {
        // A loopback port nothing listens on: bound, then released.
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        await using var client = NewClient(new Uri($"http://127.0.0.1:{port}/hubs/collab"), "ada");
        var log = new ClientLog(client);

        client.Start();
        await SdkTestKit.WaitUntilAsync(() => log.States.Count(s => s == CollabClientState.Reconnecting) >= 2, "two failed attempts reported");
        await client.StopAsync().Within();

        var failed = log.StateChanges.Where(c => c.Current == CollabClientState.Reconnecting).Take(2).ToList();
        Assert.Equal([CollabClientState.Connecting, CollabClientState.Reconnecting], failed.Select(c => c.Previous));
        Assert.All(failed, c => Assert.Contains("refused", ReasonOf(c.Error), StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The messages of an error and its inner errors: what an app shows as the reason.</summary>
    private static string ReasonOf(Exception? error) =>
        error is null ? "" : error.Message + " | " + ReasonOf(error.InnerException);
}

/// <summary>Reconnecting on a WebSocket opened without negotiation.</summary>
public sealed class ReconnectOnDirectWebSocketTests() : ReconnectTests(ClientTransport.DirectWebSockets);

/// <summary>Reconnecting on a negotiated WebSocket.</summary>
public sealed class ReconnectOnWebSocketTests() : ReconnectTests(ClientTransport.WebSockets);

/// <summary>Reconnecting on Server-Sent Events.</summary>
public sealed class ReconnectOnServerSentEventsTests() : ReconnectTests(ClientTransport.ServerSentEvents);

/// <summary>Reconnecting on Long Polling.</summary>
public sealed class ReconnectOnLongPollingTests() : ReconnectTests(ClientTransport.LongPolling);
