using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>
/// A connection belongs to the user who negotiated it (issue 15, item 1): another user who learns its token, with
/// their own valid bearer token, can neither read from it nor send on it nor re-attach to it, over any transport; the
/// id-is-the-token negotiate version 0 opens nothing; and no event tells anyone another connection's id or token.
/// </summary>
[Collection(AttackServerCollection.Name)]
public sealed class ConnectionBindingTests(AttackServerFixture fixture)
{
    private PrivateProductionServer Server => fixture.Server;

    private static string NewUser(string name) => $"{name}-{Guid.NewGuid():N}";

    [Fact]
    public async Task Another_user_polling_a_Long_Polling_connection_gets_403_and_none_of_its_events()
    {
        var room = TestClients.NewRoom("bind");
        var victim = await LongPollingConnection.StartAsync(Server.HubUrl, Server.Token(NewUser("ada")));
        await victim.InvokeAsync("Join", new { roomId = room });
        // A Set whose completion and Changed event wait on the server for the victim's next poll.
        await victim.SendAsync(RawSignalRSocket.Frame("pending-set", "Set", JsonSerializer.Serialize(new[] { new { roomId = room, key = "diary", value = "ada's secret" } })));

        using var stolen = await LongPollingConnection.Request(Server.HubUrl, HttpMethod.Get, victim.Negotiation.TransportId, Server.Token(NewUser("mallory")));
        var read = await stolen.Content.ReadAsStringAsync().Within();

        Assert.True((int)stolen.StatusCode == 403, $"another user's poll on the victim's connection got {(int)stolen.StatusCode} and read: {read}");
        Assert.DoesNotContain("ada's secret", read, StringComparison.Ordinal);
        // The victim's connection goes on, and its events were kept for it.
        await victim.PollUntilAsync(records => records.Any(r => r.Contains("ada's secret", StringComparison.Ordinal)), "the victim's own Changed event");
    }

    [Fact]
    public async Task Another_user_sending_a_Set_on_a_Long_Polling_connection_gets_403_and_nothing_is_stored()
    {
        var room = TestClients.NewRoom("bind");
        var victim = await LongPollingConnection.StartAsync(Server.HubUrl, Server.Token(NewUser("ada")));
        await victim.InvokeAsync("Join", new { roomId = room });

        var frame = RawSignalRSocket.Frame("planted-set", "Set", JsonSerializer.Serialize(new[] { new { roomId = room, key = "planted", value = "by mallory" } }));
        using var sent = await LongPollingConnection.Request(Server.HubUrl, HttpMethod.Post, victim.Negotiation.TransportId, Server.Token(NewUser("mallory")), frame);

        Assert.True((int)sent.StatusCode == 403, $"another user's send on the victim's connection got {(int)sent.StatusCode}");
        var sync = await victim.InvokeAsync("Sync", new { roomId = room, sinceSeq = 0 });
        var keys = sync.GetProperty("result").GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("key").GetString()).ToList();
        Assert.DoesNotContain("planted", keys);
        Assert.DoesNotContain(victim.Records, r => r.Contains("planted-set", StringComparison.Ordinal));
    }

    public static TheoryData<string> Transports() => new() { "long polling", "server-sent events", "websockets" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_connection_negotiated_by_one_user_cannot_be_opened_by_another_over(string transport)
    {
        var owner = Server.Token(NewUser("ada"));
        var negotiation = await Negotiation.PostAsync(Server.HubUrl, owner);
        Assert.Equal(200, negotiation.Status);

        var stranger = await OpenAsync(transport, negotiation.TransportId, Server.Token(NewUser("mallory")));

        Assert.True(stranger == 403, $"another user opening the connection over {transport} got {stranger}");
        // Refused before it touched the connection: its own user opens it as usual (a first poll answers at once).
        var own = await OpenAsync(transport, negotiation.TransportId, owner);
        Assert.True(own is 200 or 101, $"the user who negotiated it then got {own}");
    }

    /// <summary>The status of opening connection <paramref name="id"/> over <paramref name="transport"/> with <paramref name="bearer"/>.</summary>
    private async Task<int> OpenAsync(string transport, string id, string bearer)
    {
        switch (transport)
        {
            case "websockets":
                return await SecurityClients.HandshakeStatusAsync(Server.HubUrl, bearer, inQuery: false, extraQuery: "id=" + Uri.EscapeDataString(id));
            case "server-sent events":
            {
                using var stream = await LongPollingConnection.Request(Server.HubUrl, HttpMethod.Get, id, bearer, accept: "text/event-stream");
                return (int)stream.StatusCode;
            }
            default:
            {
                using var poll = await LongPollingConnection.Request(Server.HubUrl, HttpMethod.Get, id, bearer);
                return (int)poll.StatusCode;
            }
        }
    }

    [Fact]
    public async Task Negotiate_version_0_whose_connection_id_is_the_token_opens_no_connection()
    {
        var negotiation = await Negotiation.PostAsync(Server.HubUrl, Server.Token(NewUser("ada")), "negotiateVersion=0");

        Assert.True(negotiation.ConnectionId is null && negotiation.ConnectionToken is null,
            $"negotiate version 0 answered {negotiation.Status} with a connection: {negotiation.Body}");
    }

    [Fact]
    public async Task A_dropped_stateful_reconnect_connection_cannot_be_reattached_by_another_user()
    {
        var room = TestClients.NewRoom("bind");
        var adaToken = Server.Token(NewUser("ada"));
        var negotiation = await Negotiation.PostAsync(Server.HubUrl, adaToken, "negotiateVersion=1&useStatefulReconnect=true");
        Assert.Contains("\"useStatefulReconnect\":true", negotiation.Body, StringComparison.Ordinal);
        var ada = await RawSignalRSocket.ConnectAsync(Server.WebSocketUrl(adaToken, "id=" + Uri.EscapeDataString(negotiation.TransportId)), handshake: false);
        await ada.SendTextAsync("{\"protocol\":\"json\",\"version\":2}\u001e");
        Assert.Equal("{}", await ada.HandshakeAnswer.Within());
        await ada.ResultOfAsync("Join", new { roomId = room });
        await ada.ResultOfAsync("Set", new { roomId = room, key = "diary", value = "ada's secret" });
        // The socket drops without a close: the server keeps the connection (and what it sent) for a re-attach.
        await ada.DisposeAsync();
        await Task.Delay(500);

        var (status, received) = await AttachAsync(Server.WebSocketUrl(Server.Token(NewUser("mallory")), "id=" + Uri.EscapeDataString(negotiation.TransportId)));

        Assert.True(status == 403, $"another user re-attaching the dropped connection got {status} and received: {received}");
        Assert.DoesNotContain("ada's secret", received, StringComparison.Ordinal);
        // Stateful reconnect still works for the user it belongs to: ada re-attaches and gets what she missed.
        var (own, replayed) = await AttachAsync(Server.WebSocketUrl(adaToken, "id=" + Uri.EscapeDataString(negotiation.TransportId)));
        Assert.Equal(101, own);
        Assert.Contains("ada's secret", replayed, StringComparison.Ordinal);
    }

    /// <summary>Opens a WebSocket as a stateful re-attach (no handshake) and collects what arrives in two seconds.</summary>
    private static async Task<(int Status, string Received)> AttachAsync(Uri url)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(url, CancellationToken.None).Within();
        }
        catch (WebSocketException) when (socket.HttpStatusCode != 0)
        {
            return ((int)socket.HttpStatusCode, "");
        }
        var received = new StringBuilder();
        var buffer = new byte[64 * 1024];
        using var listen = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, listen.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                received.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // Listened long enough, or the server closed.
        }
        socket.Abort();
        return (101, received.ToString());
    }

    [Fact]
    public async Task Signaled_events_carry_an_opaque_per_connection_tag_and_no_connection_id()
    {
        var scene = await SceneAsync();
        await using var _ = scene;

        var signals = scene.Observer.EventArguments("Signaled").Select(a => a[1]).ToList();

        Assert.Equal(2, signals.Count);
        foreach (var signal in signals)
        {
            var properties = signal.EnumerateObject().Select(p => p.Name).ToList();
            Assert.True(!properties.Contains("connectionId") && new[] { "from", "name", "tag", "payload" }.All(properties.Contains),
                $"a Signaled event has the properties {string.Join(", ", properties)}: {signal.GetRawText()}");
        }
        var tags = signals.Select(s => s.GetProperty("tag").GetString()!).ToList();
        Assert.All(tags, tag => Assert.False(string.IsNullOrEmpty(tag)));
        Assert.NotEqual(tags[0], tags[1]);
        Assert.All(tags, tag => Assert.DoesNotContain(tag, scene.Secrets));
    }

    [Fact]
    public async Task No_event_contains_another_connections_id_or_token()
    {
        var scene = await SceneAsync();
        await using var _ = scene;

        var leaked = scene.Observer.Records.Where(r => scene.Secrets.Any(s => r.Contains(s, StringComparison.Ordinal))).ToList();

        Assert.True(leaked.Count == 0, $"events that name a connection of ada's: {string.Join(" | ", leaked)}");
        var kinds = scene.Observer.Events.Select(e => e.GetProperty("target").GetString()).Distinct().ToList();
        Assert.Contains("Changed", kinds);
        Assert.Contains("Posted", kinds);
        Assert.Contains("Signaled", kinds);
        Assert.Contains("AccessChanged", kinds);
    }

    /// <summary>
    /// Ada with two negotiated connections (their ids and tokens known) in a room she owns, and bob observing: ada
    /// grants bob editor, bob joins, ada's second connection joins, both of ada's connections signal, one sets and
    /// posts, ada demotes bob to viewer and her second connection leaves. Returns once bob has every event.
    /// </summary>
    private async Task<Scene> SceneAsync()
    {
        var room = TestClients.NewRoom("bind");
        var adaId = NewUser("ada");
        var bobId = NewUser("bob");
        var (ada1, secrets1) = await NegotiatedSocketAsync(adaId);
        var (ada2, secrets2) = await NegotiatedSocketAsync(adaId);
        var bob = await Server.ConnectAsync(bobId);
        var scene = new Scene(bob, [ada1, ada2, bob], [.. secrets1, .. secrets2]);
        try
        {
            await ada1.ResultOfAsync("Join", new { roomId = room });
            await ada1.ResultOfAsync("Grant", new { roomId = room, userId = bobId, role = "editor" });
            await bob.ResultOfAsync("Join", new { roomId = room });
            await ada2.ResultOfAsync("Join", new { roomId = room });
            await ada1.ResultOfAsync("Signal", new { roomId = room, payload = new { x = 1 } });
            await ada2.ResultOfAsync("Signal", new { roomId = room, payload = new { x = 2 } });
            await ada1.ResultOfAsync("Set", new { roomId = room, key = "k", value = 1 });
            await ada1.ResultOfAsync("Post", new { roomId = room, body = "hello" });
            await ada1.ResultOfAsync("Grant", new { roomId = room, userId = bobId, role = "viewer" });
            await ada2.ResultOfAsync("Leave", new { roomId = room });
            await Eventually.HoldsAsync(
                () => bob.EventArguments("Signaled").Count == 2 && bob.EventArguments("Posted").Count == 1 && bob.EventArguments("AccessChanged").Count == 1,
                () => $"bob's events; got: {string.Join(" | ", bob.Records)}");
            // A last write, so that the presence change of ada's leaving is in before it.
            await ada1.ResultOfAsync("Set", new { roomId = room, key = "fence", value = 1 });
            await Eventually.HoldsAsync(() => bob.EventArguments("Changed").Count == 2, () => "the fence");
            return scene;
        }
        catch
        {
            await scene.DisposeAsync();
            throw;
        }
    }

    /// <summary>A WebSocket connection opened through negotiate, with its connection id and token.</summary>
    private async Task<(RawSignalRSocket Socket, string[] Secrets)> NegotiatedSocketAsync(string sub)
    {
        var token = Server.Token(sub);
        var negotiation = await Negotiation.PostAsync(Server.HubUrl, token);
        Assert.True(negotiation is { ConnectionId: not null, ConnectionToken: not null }, negotiation.Body);
        var socket = await RawSignalRSocket.ConnectAsync(Server.WebSocketUrl(token, "id=" + Uri.EscapeDataString(negotiation.ConnectionToken)), handshake: true);
        return (socket, [negotiation.ConnectionId, negotiation.ConnectionToken]);
    }

    private sealed record Scene(RawSignalRSocket Observer, RawSignalRSocket[] Sockets, string[] Secrets) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var socket in Sockets)
            {
                await socket.DisposeAsync();
            }
        }
    }
}
