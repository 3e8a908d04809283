using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using CollabHub.Tests.Infrastructure;
using CollabHub.Tests.Security;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Tests.Telemetry;

/// <summary>Metrics, logs and readiness of a real server process, as an operator sees them (docs/operations.md).</summary>
public sealed class TelemetryTests
{
    [Fact]
    public async Task Metrics_scraped_after_a_few_writes_count_the_writes_by_kind_and_outcome_and_the_SignalR_connections()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"));
        var token = await DevTokenAsync(server.BaseUrl, "metrics-user");
        await using var connection = await SecurityClients.ConnectAsync(server.HubUrl, token);
        var room = TestClients.NewRoom();
        await connection.InvokeAsync<JsonElement>("Join", new { roomId = room }).Within();
        for (var i = 0; i < 3; i++)
        {
            await connection.InvokeAsync<JsonElement>("Set", new { roomId = room, key = $"k{i}", value = i }).Within();
        }
        await connection.InvokeAsync<JsonElement>("Set", new { roomId = room, key = "k0", value = 9, expectedVersion = 0 }).Within();
        await connection.InvokeAsync<JsonElement>("Post", new { roomId = room, body = "hello" }).Within();

        var metrics = "";
        await Eventually.HoldsAsync(async () =>
        {
            metrics = await SecurityClients.Http.GetStringAsync(new Uri(server.BaseUrl, "/metrics")).Within();
            return Sample(metrics, "collabhub_writes_total", "kind=\"set\"", "outcome=\"applied\"") == 3;
        }, () => $"collabhub_writes_total of 3 applied sets in:\n{metrics}", timeout: null, TimeSpan.FromMilliseconds(500));

        Assert.Equal(1, Sample(metrics, "collabhub_writes_total", "kind=\"set\"", "outcome=\"conflict\""));
        Assert.Equal(1, Sample(metrics, "collabhub_writes_total", "kind=\"post\"", "outcome=\"applied\""));
        Assert.Equal(1, Sample(metrics, "signalr_server_active_connections"));
        Assert.Equal(1, Sample(metrics, "collabhub_connections"));
        Assert.Equal(1, Sample(metrics, "collabhub_rooms_active"));
        Assert.True(Sample(metrics, "collabhub_events_sent_total") >= 4, "every applied write is sent to the one member");
        Assert.True(Sample(metrics, "collabhub_commit_batch_size_count") >= 1);
        Assert.Contains("collabhub_commit_duration_seconds_bucket", metrics);
        Assert.Contains("kestrel_active_connections", metrics);
        Assert.Contains("http_server_request_duration_seconds", metrics);
        Assert.Contains("dotnet_gc_collections_total", metrics);
    }

    [Fact]
    public async Task Metrics_are_off_outside_Development_unless_enabled()
    {
        using var folder = new TempDirectory();
        await using var production = await HubServerProcess.StartAsync(folder.File("a.db"), ProductionKey, environment: "Production");
        using var off = await SecurityClients.Http.GetAsync(new Uri(production.BaseUrl, "/metrics")).Within();
        Assert.Equal(HttpStatusCode.NotFound, off.StatusCode);

        await using var enabled = await HubServerProcess.StartAsync(folder.File("b.db"),
            new Dictionary<string, string>(ProductionKey) { ["CollabHub:Telemetry:Prometheus"] = "true" }, environment: "Production");
        var metrics = await SecurityClients.Http.GetStringAsync(new Uri(enabled.BaseUrl, "/metrics")).Within();
        Assert.Contains("collabhub_connections", metrics);
    }

    [Fact]
    public async Task No_token_reaches_the_log_at_Trace_level_whether_sent_in_the_query_string_or_the_Authorization_header()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), new Dictionary<string, string>
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher"] = "Trace",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Trace",
            ["CollabHub:Logging:Format"] = "Json",
            ["CollabHub:Limits:MaxRoomsPerConnection"] = "1",
        });
        var queryToken = await DevTokenAsync(server.BaseUrl, "query-user");
        var headerToken = await DevTokenAsync(server.BaseUrl, "header-user");
        string refusedRoom;
        await using (var byQuery = await SecurityClients.ConnectAsync(server.HubUrl, queryToken, inQuery: true))
        await using (var byHeader = await SecurityClients.ConnectAsync(server.HubUrl, headerToken))
        {
            await byQuery.JoinAndSetAsync(TestClients.NewRoom());
            await byHeader.JoinAndSetAsync(TestClients.NewRoom());
            Assert.Equal(401, await SecurityClients.NegotiateStatusAsync(server.HubUrl, queryToken[..^4] + "AAAA"));
            Assert.Equal(200, await SecurityClients.NegotiateStatusAsync(server.HubUrl, headerToken));
            Assert.Equal(101, await SecurityClients.HandshakeStatusAsync(server.HubUrl, queryToken, inQuery: true));
            // A refused join (too_many_rooms) is logged inside the call: its scope names connection, user and room.
            refusedRoom = TestClients.NewRoom();
            await Assert.ThrowsAsync<HubException>(() => byHeader.InvokeAsync<JsonElement>("Join", new { roomId = refusedRoom }).Within());
        }
        await server.StopAsync();
        var log = server.Output;

        Assert.Contains("access_token=[redacted]", log);
        foreach (var token in new[] { queryToken, headerToken })
        {
            Assert.DoesNotContain(token, log);
            Assert.DoesNotContain(token.Split('.')[2], log); // the signature alone
        }
        var refusal = log.Split('\n').Select(line => line.Trim()).Where(line => line.StartsWith('{') && line.Contains("\"EventId\":2203"))
            .Select(line => JsonDocument.Parse(line).RootElement).Single();
        var scope = refusal.GetProperty("Scopes").EnumerateArray().Single(s => s.TryGetProperty("HubMethod", out _));
        Assert.Equal("Join", scope.GetProperty("HubMethod").GetString());
        Assert.Equal(refusedRoom, scope.GetProperty("RoomId").GetString());
        Assert.Equal("header-user", scope.GetProperty("UserId").GetString());
        Assert.False(string.IsNullOrEmpty(scope.GetProperty("ConnectionId").GetString()));
    }

    [Fact]
    public async Task A_plain_Development_start_logs_no_warning_and_mentions_the_random_token_key_once()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"));
        using var page = await SecurityClients.Http.GetAsync(server.BaseUrl).Within();
        await server.StopAsync();

        Assert.DoesNotContain("warn:", server.Output);
        Assert.DoesNotContain("fail:", server.Output);
        Assert.Single(Regex.Matches(server.Output, "signs with a random key made at start-up"));
    }

    [Fact]
    public async Task A_failing_readiness_check_is_one_warning_per_change_of_state_not_an_error_per_probe_and_Redis_is_a_metric()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), new Dictionary<string, string>
        {
            ["CollabHub:Redis"] = redis.ConnectionString,
        });
        using (var ready = await SecurityClients.Http.GetAsync(new Uri(server.BaseUrl, "/readyz")).Within())
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
        var metricsWhileReady = await SecurityClients.Http.GetStringAsync(new Uri(server.BaseUrl, "/metrics")).Within();
        await redis.StopAsync();
        // The multiplexer notices the loss within a moment; then every probe fails, and only the first is logged.
        await Eventually.HoldsAsync(async () =>
        {
            using var probe = await SecurityClients.Http.GetAsync(new Uri(server.BaseUrl, "/readyz")).Within();
            return probe.StatusCode == HttpStatusCode.ServiceUnavailable;
        }, () => "/readyz to answer 503 once Redis is gone", timeout: null, TimeSpan.FromMilliseconds(100));
        for (var probe = 0; probe < 4; probe++)
        {
            using var notReady = await SecurityClients.Http.GetAsync(new Uri(server.BaseUrl, "/readyz")).Within();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        }
        await server.StopAsync();

        Assert.Single(Regex.Matches(server.Output, "Readiness: redis is Unhealthy"));
        Assert.DoesNotContain("DefaultHealthCheckService", server.Output);
        Assert.Contains("[7203]", server.Output); // a random dev-token key on an instance meant for a cluster is still a warning
        Assert.Contains("collabhub_redis_connected", metricsWhileReady);
    }

    private static readonly Dictionary<string, string> ProductionKey = new()
    {
        ["CollabHub:Auth:SigningKey"] = "telemetry-tests-signing-key-0123456789abcdef",
    };

    private static async Task<string> DevTokenAsync(Uri baseUrl, string name)
    {
        var (status, body) = await SecurityClients.DevTokenAsync(baseUrl, JsonSerializer.Serialize(new { name }));
        Assert.Equal(HttpStatusCode.OK, status);
        return body.GetProperty("accessToken").GetString()!;
    }

    /// <summary>The value of the one sample of <paramref name="metric"/> whose labels include all of <paramref name="labels"/>; -1 when none.</summary>
    private static double Sample(string exposition, string metric, params string[] labels)
    {
        foreach (var line in exposition.Split('\n'))
        {
            var match = Regex.Match(line, @"^(?<name>[a-z_:][a-z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)");
            if (match.Success && match.Groups["name"].Value == metric && labels.All(match.Groups["labels"].Value.Contains))
            {
                return double.Parse(match.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return -1;
    }
}
