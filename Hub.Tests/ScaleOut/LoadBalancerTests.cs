using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using CollabHub.Client;
using CollabHub.Tests.ClientSdk;
using CollabHub.Tests.Infrastructure;
using EventLog = CollabHub.Tests.Infrastructure.EventLog;

namespace CollabHub.Tests.ScaleOut;

/// <summary>
/// The scale-out set-up of docs/operations.md, for real: redis-server, two Hub.Server processes on one SQLite file
/// with <c>CollabHub:Redis</c>, and nginx running docs/nginx.conf.example in front of them. Clients connect only
/// through nginx.
/// </summary>
public sealed class LoadBalancerTests : IAsyncLifetime
{
    private readonly HubCluster _cluster = new();
    private NginxProcess? _nginx;

    private NginxProcess Nginx => _nginx!;

    private IReadOnlyList<HubServerProcess> Servers => _cluster.Servers;

    public async Task InitializeAsync()
    {
        _ = NginxProcess.Executable; // before starting anything: a missing nginx fails at once, saying how to install it
        var redis = await _cluster.StartRedisAsync();
        var settings = new Dictionary<string, string>(TestSettings.Small)
        {
            ["CollabHub:Redis"] = redis.ConnectionString,
            ["CollabHub:RedisPrefix"] = "lb-test",
        };
        var first = await _cluster.StartServerAsync(settings);
        var second = await _cluster.StartServerAsync(settings);
        _nginx = _cluster.Track(await NginxProcess.StartAsync(first.BaseUrl, second.BaseUrl));
    }

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    [Fact]
    public async Task WebSockets_without_negotiation_spread_over_both_instances_share_changes_and_fail_over_when_one_stops()
    {
        var room = TestClients.NewRoom("lb");
        // The test kit's .NET client: a WebSocket straight to the hub URL, negotiation skipped.
        var connect = (string name) => _cluster.ConnectClientAsync(Nginx.HubUrl, name, ClientTransport.DirectWebSockets);
        var names = Enumerable.Range(0, 6).Select(i => $"user{i}").ToArray();
        var clients = new[] { await connect(names[0]) }.ToList();
        foreach (var name in names.Skip(1))
        {
            clients.Add(await connect(name));
        }
        var logs = clients.Select(client => new EventLog(client)).ToList();
        foreach (var client in clients)
        {
            await client.JoinAsync(room).Within();
        }

        // A change made through nginx reaches every client through nginx, whichever instance each one is on.
        var set = await clients[0].SetAsync(room, "title", "through nginx").Within();
        var post = await clients[^1].PostAsync(room, "hello from the last client").Within();
        foreach (var log in logs)
        {
            await log.WaitUntilAsync(l => l.Changes(room).Any(c => c.Version == set.Seq), $"the Set (seq {set.Seq}) on every client\n{Nginx.Diagnostics}");
            await log.WaitUntilAsync(l => l.Posts(room).Any(m => m.Seq == post.Seq), $"the Post (seq {post.Seq}) on every client\n{Nginx.Diagnostics}");
        }

        // Which instance was each client on? Stop the first one: nginx logs the WebSockets it served as they close
        // (with the instance's address), and the clients of the other instance keep working.
        await Servers[0].StopAsync();
        var onStopped = await ClosedWebSocketsAsync(Servers[0].BaseUrl, names);
        var survivors = clients.Where((_, i) => !onStopped.Contains(names[i])).ToList();
        Assert.True(onStopped.Count > 0 && survivors.Count > 0,
            $"6 clients through nginx should be spread over both instances; {onStopped.Count} were on the stopped one.\n{Nginx.Diagnostics}");
        foreach (var survivor in survivors)
        {
            await survivor.SyncAsync(room, 0).Within();
        }

        // The surviving instance still serves: its clients, and new connections that nginx sends past the stopped one.
        var late = await connect("late");
        var lateJoin = await late.JoinAsync(room).Within();
        Assert.Equal(post.Seq, lateJoin.Seq);
        var lateLog = new EventLog(late);
        var after = await survivors[0].SetAsync(room, "after", true).Within();
        await lateLog.WaitUntilAsync(l => l.Changes(room).Any(c => c.Version == after.Seq), "a change after the failover");

        using var http = new HttpClient { Timeout = TestClients.Timeout };
        for (var i = 0; i < 4; i++)
        {
            var ready = await http.GetAsync(new Uri(Nginx.BaseUrl, "/readyz"));
            Assert.True(ready.StatusCode == HttpStatusCode.OK, $"/readyz through nginx with one instance stopped: {(int)ready.StatusCode}\n{Nginx.Diagnostics}");
        }
    }

    [Fact]
    public async Task SDK_clients_on_Long_Polling_negotiate_through_nginx_stay_on_their_instance_and_converge_after_a_network_cut()
    {
        var roomId = TestClients.NewRoom("lp-sdk");
        var instances = Servers.Select(server => $"upstream={server.BaseUrl.Host}:{server.BaseUrl.Port}").ToArray();

        // The example's sticky upstream hashes the client's address. Each client reaches nginx from its own loopback
        // address, through its own TCP proxy (the cable the test cuts), until both instances have clients.
        var clients = new List<LongPollingClient>();
        for (var n = 2; clients.Select(c => c.Instance).Distinct().Count() < 2; n++)
        {
            Assert.True(n < 40, $"38 client addresses all went to one instance\n{Nginx.Diagnostics}");
            var address = IPAddress.Parse($"127.0.0.{n}");
            // The proxy is added first, so the client ends before its cable.
            var proxy = _cluster.Track(TcpProxy.Start(Nginx.BaseUrl, address));
            var client = _cluster.Track(SdkTestKit.NewClient(proxy.Url(Nginx.HubUrl), $"lp{n}", transport: ClientTransport.LongPolling));
            var log = new ClientLog(client);
            await client.StartAsync().Within();
            var room = await client.JoinAsync(roomId).Within();
            var instance = RequestsFrom(address).Select(line => instances.FirstOrDefault(line.EndsWith)).First(i => i is not null)!;
            clients.Add(new LongPollingClient(address, proxy, client, log, room, new RoomEvents(room), instance));
        }
        await using var reader = await TestClients.OpenConnectionAsync(Servers[0].HubUrl, "reader");
        await reader.JoinAsync(roomId).Within();

        // Changes cross between the instances through Redis.
        foreach (var c in clients)
        {
            await c.Room.SetAsync($"before:{c.Address}", c.Address.ToString()).Within();
        }
        foreach (var c in clients)
        {
            await SdkTestKit.WaitUntilConvergedAsync(c.Room, reader);
        }

        // The network goes down under every client: open requests are reset and new ones refused. Each keeps writing.
        foreach (var c in clients)
        {
            c.Proxy.Block();
            await c.Proxy.CutAllAsync().Within();
        }
        var offline = new List<Task>();
        foreach (var c in clients)
        {
            await c.Log.WaitForStateAsync(CollabClientState.Reconnecting);
            offline.Add(c.Room.SetAsync($"offline:{c.Address}", true));
            offline.Add(c.Room.PostAsync($"posted offline from {c.Address}"));
        }
        await reader.SetAsync(roomId, "while-cut", 1).Within();

        foreach (var c in clients)
        {
            c.Proxy.Unblock();
        }
        await Task.WhenAll(offline).Within();
        var store = await reader.SyncAllAsync(roomId);
        Assert.Equal(clients.Count * 3 + 1, store.Seq); // one set before, one set and one post offline per client, the reader's set: each once
        foreach (var c in clients)
        {
            await c.Log.WaitForStateAsync(CollabClientState.Connected, occurrence: 2);
            await SdkTestKit.WaitUntilConvergedAsync(c.Room, reader);
            Assert.Equal(0, c.Client.PendingWrites);
            c.Events.AssertGaplessAndOnce();
        }

        // Every request of a client, its negotiate requests before and after the cut and every poll and send, went to
        // one instance, and none was refused there for an unknown connection; none was a WebSocket.
        foreach (var c in clients)
        {
            var requests = RequestsFrom(c.Address);
            Assert.True(requests.Count(line => line.Contains("POST /hubs/collab/negotiate?", StringComparison.Ordinal)) >= 2,
                $"{c.Address} should have negotiated again after the cut\n{Nginx.Diagnostics}");
            Assert.Contains(requests, line => line.Contains("\"GET /hubs/collab?", StringComparison.Ordinal) && line.Contains("&id=", StringComparison.Ordinal));
            Assert.All(requests, line => Assert.True(line.EndsWith(c.Instance, StringComparison.Ordinal) && !line.Contains("\" 404 ", StringComparison.Ordinal) && !line.Contains("\" 101 ", StringComparison.Ordinal),
                $"{c.Address}: {line} (its instance: {c.Instance})\n{Nginx.Diagnostics}"));
        }
    }

    /// <summary>The lines of nginx's test access log for requests from <paramref name="address"/>.</summary>
    private List<string> RequestsFrom(IPAddress address) =>
        [.. Nginx.AccessLog.Split('\n').Where(line => line.StartsWith($"{address} ", StringComparison.Ordinal))];

    private sealed record LongPollingClient(IPAddress Address, TcpProxy Proxy, CollabClient Client, ClientLog Log, CollabRoom Room, RoomEvents Events, string Instance);

    /// <summary>
    /// The names among <paramref name="names"/> whose WebSocket through nginx (<c>GET /hubs/collab?name=...</c>, 101)
    /// was served by <paramref name="instance"/> and has closed: nginx writes the access log line at the close.
    /// </summary>
    private async Task<HashSet<string>> ClosedWebSocketsAsync(Uri instance, IReadOnlyCollection<string> names)
    {
        var upstream = $"upstream={instance.Host}:{instance.Port}";
        HashSet<string> Closed() => [.. Nginx.AccessLog.Split('\n')
            .Where(line => line.Contains("\" 101 ", StringComparison.Ordinal) && line.EndsWith(upstream, StringComparison.Ordinal))
            .SelectMany(line => names.Where(name => line.Contains($"GET /hubs/collab?name={name} ", StringComparison.Ordinal)))];
        var deadline = DateTime.UtcNow + TestClients.Timeout;
        while (Closed().Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        await Task.Delay(500); // the instance is gone: all of its connections close together
        return Closed();
    }

    [Fact]
    public async Task Clients_that_negotiate_first_stay_on_the_instance_that_issued_their_connection_token()
    {
        using var http = new HttpClient { Timeout = TestClients.Timeout };

        // Why stickiness: a connection token is known only to the instance that issued it.
        var token = await NegotiateAsync(http, Servers[0].BaseUrl, "direct");
        var elsewhere = await http.GetAsync(new Uri(Servers[1].BaseUrl, $"/hubs/collab?id={token}&name=direct"));
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);

        // Through nginx, negotiate and every request with ?id= go to the same instance: long polling works, each time.
        var room = TestClients.NewRoom("lp");
        for (var i = 0; i < 6; i++)
        {
            var name = $"poller{i}";
            token = await NegotiateAsync(http, Nginx.BaseUrl, name);
            var connection = new Uri(Nginx.BaseUrl, $"/hubs/collab?id={token}&name={name}");
            var first = await http.GetAsync(connection); // the first poll returns at once: the connection is open
            Assert.True(first.StatusCode == HttpStatusCode.OK, $"first poll of {name}: {(int)first.StatusCode}\n{Nginx.Diagnostics}");

            const char separator = '\u001e';
            var handshakeAndJoin = $"{{\"protocol\":\"json\",\"version\":1}}{separator}"
                + $"{{\"type\":1,\"invocationId\":\"1\",\"target\":\"Join\",\"arguments\":[{{\"roomId\":\"{room}\"}}]}}{separator}";
            var sent = await http.PostAsync(connection, new StringContent(handshakeAndJoin, Encoding.UTF8, "text/plain"));
            Assert.True(sent.StatusCode == HttpStatusCode.OK, $"send of {name}: {(int)sent.StatusCode}\n{Nginx.Diagnostics}");

            var received = new StringBuilder();
            var deadline = DateTime.UtcNow + TestClients.Timeout;
            while (!received.ToString().Contains("\"invocationId\":\"1\"", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, $"{name} got no Join result by long polling through nginx; received: {received}\n{Nginx.Diagnostics}");
                var poll = await http.GetAsync(connection);
                Assert.True(poll.StatusCode == HttpStatusCode.OK, $"poll of {name}: {(int)poll.StatusCode} {await poll.Content.ReadAsStringAsync()}\n{Nginx.Diagnostics}");
                received.Append(await poll.Content.ReadAsStringAsync());
            }
            var messages = received.ToString().Split(separator, StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("{}", messages[0]); // the handshake succeeded
            using var result = JsonDocument.Parse(messages.Single(m => m.Contains("\"invocationId\":\"1\"", StringComparison.Ordinal)));
            Assert.Equal(room, result.RootElement.GetProperty("result").GetProperty("roomId").GetString());
        }

        // The example's access log has every request, without query strings: no connection token, no access token.
        var log = Nginx.ExampleAccessLogText;
        Assert.Contains("\"POST /hubs/collab/negotiate HTTP/1.1\" 200", log, StringComparison.Ordinal);
        Assert.DoesNotContain("id=", log, StringComparison.Ordinal);
        Assert.DoesNotContain("name=", log, StringComparison.Ordinal);
    }

    private static async Task<string> NegotiateAsync(HttpClient http, Uri baseUrl, string name)
    {
        var response = await http.PostAsync(new Uri(baseUrl, $"/hubs/collab/negotiate?negotiateVersion=1&name={name}"), null);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"negotiate at {baseUrl}: {(int)response.StatusCode} {body}");
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("connectionToken").GetString()!;
    }

    [Fact]
    public async Task The_signalr_JS_client_works_through_nginx_with_and_without_negotiation()
    {
        // ada and bob skip negotiation (any instance), carol negotiates (sticky); see the script's header.
        var (exitCode, stdout, stderr) = await RunNodeAsync("join-set-changed.mjs", Nginx.HubUrl.ToString());

        var output = $"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n{Nginx.Diagnostics}";
        Assert.True(exitCode == 0, $"node join-set-changed.mjs through nginx exited with {exitCode}.\n{output}");
        var summary = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(summary.StartsWith("{\"ok\":true", StringComparison.Ordinal), $"node join-set-changed.mjs exited with 0 but its last line is not an ok summary.\n{output}");
    }

    [Fact]
    public async Task Readyz_answers_through_nginx()
    {
        using var http = new HttpClient { Timeout = TestClients.Timeout };
        for (var i = 0; i < 4; i++)
        {
            var response = await http.GetAsync(new Uri(Nginx.BaseUrl, "/readyz"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
        }
    }

    private static async Task<(int ExitCode, string StdOut, string StdErr)> RunNodeAsync(string script, params string[] arguments)
    {
        var folder = Path.Combine(RepoPaths.Root, "Hub.Tests", "js");
        const string howToFix = "Run ./test.sh at the repository root (it installs node and runs `npm ci`), or `apt-get install -y nodejs npm` and `npm ci` in Hub.Tests/js.";
        Assert.True(File.Exists(Path.Combine(folder, "node_modules", "@microsoft", "signalr", "package.json")),
            $"The @microsoft/signalr npm package is not installed in {folder}. {howToFix}");

        var result = await NodeScript.RunAsync(folder, [script, .. arguments], TimeSpan.FromSeconds(60), howToFix);
        return (result.ExitCode, result.StdOut, result.StdErr);
    }
}

/// <summary>docs/operations.md shows the nginx example inline; it must be the file the tests above run.</summary>
public sealed class NginxExampleDocumentationTests
{
    [Fact]
    public void The_nginx_example_in_operations_md_is_docs_nginx_conf_example()
    {
        var example = File.ReadAllText(NginxProcess.ExamplePath).ReplaceLineEndings("\n").TrimEnd();
        var operations = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "operations.md")).ReplaceLineEndings("\n");
        const string fence = "```nginx\n";
        var start = operations.IndexOf(fence, StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/operations.md has no ```nginx block.");
        start += fence.Length;
        var end = operations.IndexOf("\n```", start, StringComparison.Ordinal);
        Assert.True(end >= 0, "docs/operations.md's ```nginx block is not closed.");
        Assert.Equal(example, operations[start..end].TrimEnd());
    }
}
