using System.Net;
using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests.ScaleOut;

/// <summary>
/// One Redis outage scenario, run on both <c>CollabHub:Backplane:Provider</c> values, asserting what each does: two
/// instances, two clients on the first and one on the second, all in one room; Redis is killed, the clients write,
/// signal, join and connect, then Redis comes back. See docs/operations.md, "Backplane providers".
/// </summary>
public sealed class BackplaneOutageComparisonTests(ITestOutputHelper output)
{
    /// <summary>What a provider did. Each field is observed, none is timed.</summary>
    private sealed record Outcome(
        bool WriteAcknowledgedDuringOutage,
        bool SameInstanceClientGotTheWriteDuringOutage,
        bool OtherInstanceClientGotTheWriteDuringOutage,
        string SignalDuringOutage,
        bool SameInstanceClientGotTheSignal,
        string JoinDuringOutage,
        string NewConnectionDuringOutage,
        bool ReadyzReportedTheOutage,
        int OutageWarningsLogged,
        bool EveryClientConvergedAfterRedisReturned);

    [Fact]
    public async Task During_a_Redis_outage_our_backplane_keeps_serving_locally_and_the_stock_one_does_not_and_both_converge_after_it()
    {
        var ours = await RunOutageScenarioAsync("CollabHub");
        var stock = await RunOutageScenarioAsync("SignalR");

        Assert.Equal(new Outcome(
            WriteAcknowledgedDuringOutage: true,
            SameInstanceClientGotTheWriteDuringOutage: true,
            OtherInstanceClientGotTheWriteDuringOutage: false,
            SignalDuringOutage: "ok",
            SameInstanceClientGotTheSignal: true,
            JoinDuringOutage: "ok",
            NewConnectionDuringOutage: "joined",
            ReadyzReportedTheOutage: true,
            OutageWarningsLogged: 1,
            EveryClientConvergedAfterRedisReturned: true), ours);
        // The stock backplane sends every group message through Redis, so nobody gets it; what is awaited (the group
        // subscription of Join, a new connection's own channel) fails after the multiplexer's backlog timeout. Writes
        // still commit and are acknowledged, and signals are accepted (no hub call waits for delivery), but neither
        // reaches anyone; the room seq with Sync repairs the missed writes.
        Assert.Equal(new Outcome(
            WriteAcknowledgedDuringOutage: true,
            SameInstanceClientGotTheWriteDuringOutage: false,
            OtherInstanceClientGotTheWriteDuringOutage: false,
            SignalDuringOutage: "ok",
            SameInstanceClientGotTheSignal: false,
            JoinDuringOutage: ErrorCodes.Unavailable,
            NewConnectionDuringOutage: "refused",
            ReadyzReportedTheOutage: true,
            OutageWarningsLogged: 1,
            EveryClientConvergedAfterRedisReturned: true), stock);
    }

    private async Task<Outcome> RunOutageScenarioAsync(string provider)
    {
        await using var cluster = new HubCluster();
        var redis = await cluster.StartRedisAsync();
        var settings = new Dictionary<string, string>(TestSettings.Small)
        {
            ["CollabHub:Redis"] = redis.ConnectionString,
            ["CollabHub:RedisPrefix"] = "outage",
            ["CollabHub:Backplane:Provider"] = provider,
        };
        var first = await cluster.StartServerAsync(settings);
        var second = await cluster.StartServerAsync(settings);
        var ada = await cluster.OpenConnectionAsync(first, "ada");
        var ann = await cluster.OpenConnectionAsync(first, "ann");
        var bob = await cluster.OpenConnectionAsync(second, "bob");
        var annEvents = new EventLog(ann);
        var bobEvents = new EventLog(bob);
        var room = TestClients.NewRoom("outage");
        foreach (var client in new[] { ada, ann, bob })
        {
            await client.JoinAsync(room).Within();
        }
        var before = await ada.SetAsync(room, "before", 0).Within();
        await annEvents.WaitUntilAsync(l => l.Changes(room).Any(c => c.Version == before.Seq), "the change before the outage (ann)");
        await bobEvents.WaitUntilAsync(l => l.Changes(room).Any(c => c.Version == before.Seq), "the change before the outage (bob)");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        redis.Kill();
        var readyzReported = await WaitForReadyzAsync(http, first, HttpStatusCode.ServiceUnavailable);
        var during = await ada.SetAsync(room, "during", 1).Within();
        // Awaited hub calls: with the stock backplane each ends only when the multiplexer's backlog times out, and the
        // write's broadcast, queued before them, has timed out by then too.
        var signal = await OutcomeOfAsync(() => ada.SignalAsync(room, JsonSerializer.SerializeToElement("wave")));
        var join = await OutcomeOfAsync(() => ada.JoinAsync(TestClients.NewRoom("second")));
        var newConnection = await NewConnectionAsync(first.HubUrl, room);
        if (provider == "CollabHub")
        {
            await annEvents.WaitUntilAsync(l => l.Changes(room).Any(c => c.Version == during.Seq) && l.Signals(room).Any(), "local delivery during the outage");
        }
        var sameInstanceGotWrite = annEvents.Changes(room).Any(c => c.Version == during.Seq);
        var sameInstanceGotSignal = annEvents.Signals(room).Any();
        var otherInstanceGotWrite = bobEvents.Changes(room).Any(c => c.Version == during.Seq);

        await redis.RestartAsync().Within();
        Assert.True(await WaitForReadyzAsync(http, first, HttpStatusCode.OK), "the first instance did not become ready again after Redis returned");
        Assert.True(await WaitForReadyzAsync(http, second, HttpStatusCode.OK), "the second instance did not become ready again after Redis returned");
        var converged = await ConvergeAsync(ada, [(ann, annEvents), (bob, bobEvents)], room);

        var outcome = new Outcome(during.Applied, sameInstanceGotWrite, otherInstanceGotWrite, signal, sameInstanceGotSignal, join, newConnection,
            readyzReported, CountOf(first.Output, "[4003]"), converged);
        output.WriteLine($"{provider}: {outcome}");
        return outcome;
    }

    /// <summary>
    /// Writes until both clients have received a write made after Redis returned (the stock backplane can drop the
    /// first ones while its subscriptions come back), then checks that Sync gives every client the store's view.
    /// </summary>
    private async Task<bool> ConvergeAsync(CollabConnection writer, (CollabConnection Client, EventLog Events)[] readers, string room)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var missed = 0;
        while (true)
        {
            var after = await writer.SetAsync(room, "after", missed).Within();
            await Task.Delay(200);
            if (readers.All(r => r.Events.Changes(room).Any(c => c.Version == after.Seq)))
            {
                break;
            }
            missed++;
            Assert.True(DateTime.UtcNow < deadline, "no write made after Redis returned reached both clients within 30 s");
        }
        output.WriteLine($"writes after Redis returned that did not reach both clients at once: {missed}");
        var expected = await writer.SyncAllAsync(room);
        foreach (var (client, _) in readers)
        {
            var view = await client.SyncAllAsync(room);
            if (view.Seq != expected.Seq || !view.Entries.Values.Select(e => (e.Key, e.Version)).SequenceEqual(expected.Entries.Values.Select(e => (e.Key, e.Version))))
            {
                return false;
            }
        }
        return true;
    }

    private static async Task<string> OutcomeOfAsync(Func<Task> call)
    {
        try
        {
            await call().WaitAsync(TimeSpan.FromSeconds(30));
            return "ok";
        }
        catch (CollabHubException ex)
        {
            return ex.Code;
        }
    }

    /// <summary>"joined" if a new connection to the instance can join the room, otherwise "refused".</summary>
    private static async Task<string> NewConnectionAsync(Uri hubUrl, string room)
    {
        await using var late = new CollabConnection(new CollabClientOptions { Url = hubUrl, Name = "late" });
        try
        {
            await late.StartAsync().Within();
            await late.JoinAsync(room).Within();
            return "joined";
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            return "refused";
        }
    }

    /// <summary>Whether <c>/readyz</c> answers <paramref name="status"/> within 30 s.</summary>
    private static async Task<bool> WaitForReadyzAsync(HttpClient http, HubServerProcess server, HttpStatusCode status)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await http.GetAsync(new Uri(server.BaseUrl, "/readyz"))).StatusCode != status)
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(100);
        }
        return true;
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }
}
