using System.Collections.Concurrent;
using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary>A server that keeps 3 messages per room and purges every second.</summary>
public sealed class RetentionServerFixture() : HubServerFixture(new Dictionary<string, string>
{
    ["CollabHub:Store:Retention:Messages"] = "3",
    ["CollabHub:Store:PurgeInterval"] = "00:00:01",
});

/// <summary>
/// Both SDKs, offline while the server's retention removes what they would need, rejoin from below the horizon: the
/// server answers <c>full: true</c>, and the replica is replaced wholesale, messages included, with the events apps
/// expect (an applied range marked full, a change per key that changed or went, the messages new to the replica).
/// </summary>
public sealed class RetentionRejoinTests(RetentionServerFixture fixture) : IClassFixture<RetentionServerFixture>
{
    [Fact]
    public async Task The_NET_SDK_replaces_entries_and_messages_when_a_rejoin_from_below_the_retention_gets_a_full_snapshot()
    {
        var roomId = TestClients.NewRoom("full");
        await using var proxy = TcpProxy.Start(fixture.Server.BaseUrl);
        await using var ada = SdkTestKit.NewClient(proxy.Url(fixture.Server.HubUrl), "ada");
        var adaLog = new ClientLog(ada);
        await using var bob = await TestClients.OpenConnectionAsync(fixture.Server.HubUrl, "bob");
        await using var probe = await TestClients.OpenConnectionAsync(fixture.Server.HubUrl, "probe");
        await ada.StartAsync().Within();
        var a = await ada.JoinAsync(roomId).Within();
        await bob.JoinAsync(roomId).Within();
        await bob.SetAsync(roomId, "a", 1).Within();
        await bob.SetAsync(roomId, "b", 2).Within();
        var first = await bob.PostAsync(roomId, "m0").Within();
        await SdkTestKit.WaitUntilAsync(() => a.Seq == first.Seq, "ada to catch up");
        var since = a.Seq;

        var ranges = new ConcurrentQueue<AppliedRange>();
        var changes = new ConcurrentQueue<string>();
        var posted = new ConcurrentQueue<string>();
        a.Applied += ranges.Enqueue;
        a.Changed += change => changes.Enqueue(change.Key);
        a.Posted += message => posted.Enqueue(message.Body.GetString()!);

        proxy.Block();
        await proxy.CutAllAsync().Within();
        await adaLog.WaitForStateAsync(CollabClientState.Reconnecting);
        await bob.DeleteAsync(roomId, "a").Within();
        await bob.SetAsync(roomId, "c", 3).Within();
        long last = 0;
        for (var i = 1; i <= 5; i++)
        {
            last = (await bob.PostAsync(roomId, $"m{i}").Within()).Seq;
        }
        // The purge (every second) keeps the newest 3 messages and raises the horizon above ada's position. One that
        // ran while m1..m5 were being posted already answers full with more than 3, so wait for one after the last post.
        await SdkTestKit.WaitUntilAsync(async () =>
        {
            var probed = await probe.JoinAsync(roomId, since);
            return probed.Full && probed.Messages.Select(m => m.Body.GetString()).SequenceEqual(["m3", "m4", "m5"]);
        }, "a purge after the last post to pass ada's position");

        proxy.Unblock();
        await SdkTestKit.WaitUntilAsync(() => ada.State == CollabClientState.Connected && a.Seq == last, "ada to rejoin");
        Assert.Equal(["b", "c"], a.Confirmed.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(3, a.Confirmed["c"].Value!.Value.GetInt32());
        Assert.Equal(["m3", "m4", "m5"], a.Messages.Select(m => m.Body.GetString()));
        await SdkTestKit.WaitUntilAsync(() => ranges.Any(r => r.Full && r.To == last) && posted.Count == 3, "the events of the full answer");
        Assert.Equal(["m3", "m4", "m5"], posted);
        Assert.Contains("a", changes);
        Assert.Contains("c", changes);
    }

    [Fact]
    public async Task The_JS_SDK_replaces_entries_and_messages_when_a_rejoin_from_below_the_retention_gets_a_full_snapshot()
    {
        var folder = Path.Combine(RepoPaths.Root, "Hub.Tests", "js");
        const string howToFix = "Run ./test.sh at the repository root, or `npm ci` in Hub.Tests/js.";
        Assert.True(File.Exists(Path.Combine(folder, "node_modules", "@microsoft", "signalr", "package.json")), $"@microsoft/signalr is not installed in {folder}. {howToFix}");
        var result = await NodeScript.RunAsync(folder, ["--test", "--test-reporter=spec", "rejoin-full-tests.mjs"], TimeSpan.FromSeconds(90), howToFix,
            new Dictionary<string, string> { ["COLLAB_HUB_URL"] = fixture.Server.HubUrl.ToString(), ["NO_COLOR"] = "1" });
        Assert.True(result.ExitCode == 0, $"node rejoin-full-tests.mjs exited with {result.ExitCode}.\n--- stdout ---\n{result.StdOut}\n--- stderr ---\n{result.StdErr}");
        Assert.Contains("ℹ pass 1", result.StdOut, StringComparison.Ordinal);
    }
}
