using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;
using CollabHub.Tests.Security;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Xunit.Abstractions;

namespace CollabHub.Tests.Telemetry;

/// <summary>
/// The operator's status page: <c>/status/data</c> as a script reads it, its admin policy outside Development, and the
/// page itself in headless Chromium (Hub.Tests/browser/status.test.mjs) over two instances sharing Redis.
/// </summary>
public sealed class StatusPageTests(ITestOutputHelper output)
{
    private const string SigningKey = "status-page-tests-signing-key-0123456789abcdef";
    private const string AdminRole = "collabhub-operator";
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Status_data_outside_Development_needs_a_token_with_the_admin_role_or_claim()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), new Dictionary<string, string>
        {
            ["CollabHub:Auth:SigningKey"] = SigningKey,
            ["CollabHub:Auth:AdminRole"] = AdminRole,
        }, environment: "Production");

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusOfDataAsync(server.BaseUrl, null));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusOfDataAsync(server.BaseUrl, Token(new() { ["role"] = "editor" })));
        Assert.Equal(HttpStatusCode.OK, await StatusOfDataAsync(server.BaseUrl, Token(new() { ["role"] = AdminRole })));
        Assert.Equal(HttpStatusCode.OK, await StatusOfDataAsync(server.BaseUrl, Token(new() { [AdminRole] = "yes" })));
        // The page itself holds no data and is served to anyone (it asks for a token when the data needs one).
        using var page = await SecurityClients.Http.GetAsync(new Uri(server.BaseUrl, "/status/")).Within();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public async Task Status_data_reports_this_instance_its_rooms_rates_health_and_warnings_as_JSON()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), new Dictionary<string, string>
        {
            ["CollabHub:Limits:Rates:SignalBurst"] = "2",
            ["CollabHub:Limits:Rates:SignalsPerSecond"] = "1",
        });
        var (_, body) = await SecurityClients.DevTokenAsync(server.BaseUrl, """{"name":"ops"}""");
        await using var connection = await SecurityClients.ConnectAsync(server.HubUrl, body.GetProperty("accessToken").GetString());
        var room = TestClients.NewRoom();
        await connection.JoinAndSetAsync(room);
        await SignalUntilRefusedAsync(connection, room);

        JsonElement data = default;
        await Eventually.HoldsAsync(async () =>
        {
            data = JsonDocument.Parse(await SecurityClients.Http.GetStringAsync(new Uri(server.BaseUrl, "/status/data")).Within()).RootElement;
            return data.GetProperty("rates").EnumerateArray().Any(sample => sample.GetProperty("writesPerSecond").GetDouble() > 0);
        }, () => $"a sample with writes in {data}", TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(500));

        var instance = Assert.Single(data.GetProperty("instances").EnumerateArray());
        Assert.True(instance.GetProperty("self").GetBoolean());
        Assert.Equal(data.GetProperty("instance").GetString(), instance.GetProperty("id").GetString());
        Assert.Equal(1, instance.GetProperty("connections").GetInt32());
        Assert.Equal(1, instance.GetProperty("rooms").GetInt32());
        var busiest = Assert.Single(data.GetProperty("busiestRooms").EnumerateArray());
        Assert.Equal(room, busiest.GetProperty("roomId").GetString());
        Assert.Equal("Healthy", data.GetProperty("health").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "store").GetProperty("status").GetString());
        Assert.Contains(data.GetProperty("warnings").EnumerateArray(), w => w.GetProperty("eventId").GetInt32() == 7101);
    }

    [Fact]
    public async Task Browser_status_page_shows_both_instances_live_rates_busiest_rooms_health_and_warnings()
    {
        var browserFolder = Path.Combine(RepoPaths.Root, "Hub.Tests", "browser");
        Assert.True(File.Exists(Path.Combine(browserFolder, "node_modules", "playwright-core", "package.json")),
            "playwright-core is not installed in Hub.Tests/browser: run ./test.sh, or `npm ci` there.");
        await using var cluster = new HubCluster();
        var redis = await cluster.StartRedisAsync();
        var settings = new Dictionary<string, string>
        {
            ["CollabHub:Redis"] = redis.ConnectionString,
            ["CollabHub:Auth:SigningKey"] = SigningKey,
            ["CollabHub:Presence:HeartbeatInterval"] = "00:00:01",
            ["CollabHub:Presence:InstanceExpiry"] = "00:00:05",
            ["CollabHub:Limits:Rates:SignalBurst"] = "2",
            ["CollabHub:Limits:Rates:SignalsPerSecond"] = "1",
        };
        var first = await cluster.StartServerAsync(settings);
        var second = await cluster.StartServerAsync(settings);
        var room = TestClients.NewRoom("busy");
        await using var writer = await ConnectAsync(first, "writer", room);
        await using var reader = await ConnectAsync(second, "reader", room);
        await SignalUntilRefusedAsync(writer, room);

        using var stop = new CancellationTokenSource();
        var writes = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await writer.InvokeAsync<JsonElement>("Set", new { roomId = room, key = $"k{i % 20}", value = i }).Within();
                await Task.Delay(50);
            }
        });
        ProcessResult result;
        try
        {
            var outputFolder = Path.Combine(RepoPaths.Root, "TestResults", "browser");
            // COLLABHUB_UPDATE_DOCS=1 also copies the screenshot to docs/status.png.
            string[] arguments = ["status.test.mjs", first.BaseUrl.ToString(), room, "2", outputFolder,
                .. Environment.GetEnvironmentVariable("COLLABHUB_UPDATE_DOCS") == "1" ? ["--update-docs"] : Array.Empty<string>()];
            result = await NodeScript.RunAsync(browserFolder, arguments, ScriptTimeout,
                "Run ./test.sh at the repository root, or `apt-get install -y nodejs npm chromium` and `npm ci` in Hub.Tests/browser.",
                new Dictionary<string, string> { ["CHROMIUM_PATH"] = Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium" });
        }
        finally
        {
            stop.Cancel();
            await writes;
        }
        output.WriteLine(result.StdOut);
        var summary = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(result.ExitCode == 0 && summary.StartsWith("{\"ok\":true", StringComparison.Ordinal),
            $"node status.test.mjs exited with {result.ExitCode}.\n--- stdout ---\n{result.StdOut}\n--- stderr ---\n{result.StdErr}");
    }

    private static async Task<HubConnection> ConnectAsync(HubServerProcess server, string name, string room)
    {
        var (_, body) = await SecurityClients.DevTokenAsync(server.BaseUrl, JsonSerializer.Serialize(new { name }));
        var connection = await SecurityClients.ConnectAsync(server.HubUrl, body.GetProperty("accessToken").GetString());
        await connection.InvokeAsync<JsonElement>("Join", new { roomId = room }).Within();
        return connection;
    }

    /// <summary>Signals past the (small) burst until one is refused: a rate-limit warning for the page's list.</summary>
    private static async Task SignalUntilRefusedAsync(HubConnection connection, string room)
    {
        for (var i = 0; i < 10; i++)
        {
            try
            {
                await connection.InvokeAsync("Signal", new { roomId = room, payload = new { x = i } }).Within();
            }
            catch (HubException ex) when (ex.Message.Contains("rate_limited: ", StringComparison.Ordinal))
            {
                return;
            }
        }
        Assert.Fail("no signal was refused");
    }

    private static string Token(Dictionary<string, object?> extra) =>
        TestTokens.Hs256(Encoding.UTF8.GetBytes(SigningKey), TestTokens.Claims("operator", "Operator", "collabhub", "collabhub", DateTimeOffset.UtcNow.AddMinutes(10), extra: extra));

    private static async Task<HttpStatusCode> StatusOfDataAsync(Uri baseUrl, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUrl, "/status/data"));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await SecurityClients.Http.SendAsync(request).Within();
        return response.StatusCode;
    }
}
