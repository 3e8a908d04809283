using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Hostile;

/// <summary>
/// A real Hub.Server process (Development, <c>?name=</c> identities) for hostile clients, with small payload limits so
/// they are cheap to reach, and checks that it survived: the process is alive, <c>/healthz</c> answers, a normal
/// client can still join and write, and the server logged no unexpected failure.
/// </summary>
public sealed class HostileServer() : HubServerFixture(new Dictionary<string, string>
{
    ["CollabHub:Limits:MaxValueBytes"] = MaxValueBytes.ToString(),
    ["CollabHub:Limits:MaxBodyBytes"] = MaxValueBytes.ToString(),
    ["CollabHub:Limits:MaxSignalBytes"] = MaxSignalBytes.ToString(),
    ["CollabHub:Limits:MaxBatchBytes"] = MaxValueBytes.ToString(),
})
{
    public const int MaxValueBytes = 4096;
    public const int MaxSignalBytes = 1024;

    /// <summary>SignalR's MaximumReceiveMessageSize for these limits: the largest payload limit + 16 KiB.</summary>
    public const int MaxHubMessageBytes = MaxValueBytes + 16 * 1024;

    private int _names;

    public override async Task DisposeAsync()
    {
        // After all of a class's hostile tests, the server must still be running (each test checks too).
        var started = Cluster.Servers.Count > 0;
        var diedOnTheWay = started && !ProcessIsAlive;
        var output = started ? Server.Output : null;
        await base.DisposeAsync();
        if (diedOnTheWay)
        {
            throw new InvalidOperationException($"the server process exited during the hostile tests:\n{output}");
        }
    }

    /// <summary>A user name no other connection of the test run has (each user has its own rate limits and connection cap).</summary>
    public string NewName(string prefix) => $"{prefix}-{Interlocked.Increment(ref _names)}";

    internal Task<RawSignalRSocket> RawAsync(string prefix = "raw", bool handshake = true) =>
        RawSignalRSocket.ConnectAsync(HubUrl, NewName(prefix), handshake);

    internal Task<HubPeer> PeerAsync(string prefix = "peer") => HubPeer.ConnectAsync(HubUrl, NewName(prefix));

    /// <summary>Whether the server process is still running (it has not crashed or exited).</summary>
    public bool ProcessIsAlive
    {
        get
        {
            try
            {
                using var process = Process.GetProcessById(Server.ProcessId);
                return !process.HasExited;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
    }

    /// <summary>The server's log entries at Error or Critical level (<c>fail:</c>, <c>crit:</c>), each with its first lines.</summary>
    public IReadOnlyList<string> FailureLines()
    {
        var lines = Server.Output.Split('\n');
        var found = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith("fail:", StringComparison.Ordinal) || lines[i].StartsWith("crit:", StringComparison.Ordinal)
                || lines[i].Contains("Unhandled exception", StringComparison.Ordinal))
            {
                // The entry, its message, and the exception line(s) under it.
                var entry = lines.Skip(i).Take(5).TakeWhile((line, n) => n == 0 || line.StartsWith(' ')).Select(line => line.Trim());
                found.Add(string.Join(" | ", entry));
            }
        }
        return found;
    }

    /// <summary>The process runs, <c>/healthz</c> says so, and nothing crashed or failed unexpectedly in the server.</summary>
    public async Task AssertAliveAsync()
    {
        Assert.True(ProcessIsAlive, $"the server process has exited:\n{Server.Output}");
        using var http = new HttpClient { Timeout = TestClients.Timeout };
        var health = await http.GetAsync(new Uri(Server.BaseUrl, "/healthz")).Within();
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        // 3001 is ErrorMappingFilter's "Hub method {Method} failed": an exception the hub did not expect.
        var failures = FailureLines();
        Assert.True(failures.Count == 0 || failures.All(l => !l.Contains("crit:", StringComparison.Ordinal)),
            $"the server logged critical failures:\n{string.Join('\n', failures)}");
    }

    /// <summary>
    /// A normal client joins <paramref name="room"/>, finds exactly <paramref name="expectedSeq"/> changes stored in it
    /// (Sync from 0), and can still write to it.
    /// </summary>
    public async Task AssertRoomHoldsAsync(string room, long expectedSeq, string because)
    {
        await using var peer = await PeerAsync("check");
        try
        {
            await peer.JoinAsync(room);
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"{because}: a normal client can no longer Join room {room}: {ex.GetType().Name}: {ex.Message}");
        }
        var (seq, entries, messages) = await peer.SyncAllAsync(room);
        Assert.True(expectedSeq == seq,
            $"{because}: room {room} should hold {expectedSeq} change(s), but Sync from 0 reports seq {seq} with entries " +
            $"[{string.Join(", ", entries.Select(e => $"{e.Key}@{e.Version}={e.Value?.GetRawText()}"))}] and {messages.Count} message(s)");
        var after = await peer.SetAsync(room, "after", JsonSerializer.SerializeToElement("a normal write"));
        Assert.True(after.Applied);
        Assert.Equal(expectedSeq + 1, after.Seq);
    }
}
