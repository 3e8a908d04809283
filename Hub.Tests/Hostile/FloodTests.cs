using System.Diagnostics;
using System.Text;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests.Hostile;

/// <summary>
/// One client floods Sets far over its rate limit while another writes at a calm pace in the same room: the flood
/// is refused with <c>rate_limited</c> (and nothing else), the calm client's writes all succeed. The calm client's
/// round-trip times with and without the flood are printed for the notes, not asserted.
/// </summary>
[Collection(HostileLoadCollection.Name)]
public sealed class FloodTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int CalmWrites = 150;
    private static readonly TimeSpan CalmPause = TimeSpan.FromMilliseconds(20);

    private readonly HubCluster _cluster = new();
    private HubServerProcess _server = null!;

    // Default limits: 50 writes/s per connection (burst 100), 100/s per user (burst 200).
    public async Task InitializeAsync() => _server = await _cluster.StartServerAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    [Fact]
    public async Task A_client_flooding_Sets_is_rate_limited_while_a_calm_client_in_the_same_room_keeps_writing()
    {
        var room = TestClients.NewRoom("flood");
        await using var calm = await HubPeer.ConnectAsync(_server.HubUrl, "calm");
        await calm.JoinAsync(room);
        await using var flood = await RawSignalRSocket.ConnectAsync(_server.HubUrl, "flood");
        Assert.Equal(OutcomeKind.Result, (await flood.InvokeAsync(HubMethods.Join, JsonSerializer.Serialize(new { roomId = room }))).Kind);
        for (var i = 0; i < 10; i++)
        {
            await calm.SetAsync(room, "warm-up", JsonSerializer.SerializeToElement(i));
        }

        var quiet = await MeasureCalmAsync(calm, room, "quiet");

        using var stopFlood = new CancellationTokenSource();
        var flooding = FloodAsync(flood, room, stopFlood.Token);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var flooded = await MeasureCalmAsync(calm, room, "flooded");
        await stopFlood.CancelAsync();
        var stats = await flooding.WaitAsync(TimeSpan.FromSeconds(60));

        output.WriteLine($"calm Set round trip, no flood:   {Describe(quiet)}");
        output.WriteLine($"calm Set round trip, with flood: {Describe(flooded)}");
        output.WriteLine($"flood: {stats.Sent:N0} Sets in {stats.Elapsed.TotalSeconds:0.0} s ({stats.Sent / stats.Elapsed.TotalSeconds:N0}/s), " +
            $"{stats.Applied:N0} applied, {stats.RateLimited:N0} rate_limited, other outcomes: {(stats.Other.Count == 0 ? "none" : string.Join("; ", stats.Other.Take(5)))}");

        Assert.False(flood.IsClosed, $"the flooding connection was closed: {flood.CloseReason}");
        Assert.True(stats.RateLimited > 0, "the flood was never rate limited");
        Assert.True(stats.Applied > 0, "none of the flood's Sets was applied");
        Assert.True(stats.Other.Count == 0, $"the flood got other outcomes than applied or rate_limited: {string.Join("; ", stats.Other.Take(5))}");
        // The rate limit holds: at most the burst plus the rate over the flood's time (with a second of slack).
        Assert.True(stats.Applied <= 100 + 50 * (stats.Elapsed.TotalSeconds + 1), $"{stats.Applied} of the flood's Sets were applied in {stats.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(10 + 2 * CalmWrites + stats.Applied, (await calm.SyncAllAsync(room)).Seq);
    }

    private static async Task<List<double>> MeasureCalmAsync(HubPeer calm, string room, string phase)
    {
        var times = new List<double>(CalmWrites);
        for (var i = 0; i < CalmWrites; i++)
        {
            var clock = Stopwatch.StartNew();
            var result = await calm.SetAsync(room, $"calm-{phase}", JsonSerializer.SerializeToElement(i));
            times.Add(clock.Elapsed.TotalMilliseconds);
            Assert.True(result.Applied, $"the calm client's Set {i} ({phase}) was not applied");
            await Task.Delay(CalmPause);
        }
        return times;
    }

    private sealed record FloodStats(long Sent, long Applied, long RateLimited, List<string> Other, TimeSpan Elapsed);

    /// <summary>Sends Sets in batches of 50 frames per WebSocket message, as fast as the server takes them, with at most 2,000 unanswered.</summary>
    private static async Task<FloodStats> FloodAsync(RawSignalRSocket flood, string room, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        var pending = new Queue<Task<Outcome>>();
        long sent = 0, applied = 0, rateLimited = 0;
        var other = new List<string>();
        void Count(Outcome outcome)
        {
            if (outcome.Kind == OutcomeKind.Result && outcome.Result?.GetProperty("applied").GetBoolean() == true)
            {
                applied++;
            }
            else if (outcome.Code == ErrorCodes.RateLimited)
            {
                rateLimited++;
            }
            else
            {
                other.Add(outcome.ToString());
            }
        }

        await Task.Yield();
        while (!stop.IsCancellationRequested && !flood.IsClosed)
        {
            var frames = new StringBuilder();
            for (var i = 0; i < 50; i++)
            {
                var id = flood.NextId();
                pending.Enqueue(flood.Expect(id));
                frames.Append(RawSignalRSocket.Frame(id, HubMethods.Set, $"[{{\"roomId\":\"{room}\",\"key\":\"flood\",\"value\":{sent}}}]"));
                sent++;
            }
            await flood.SendTextAsync(frames.ToString());
            while (pending.Count > 2000 || (pending.Count > 0 && pending.Peek().IsCompleted))
            {
                Count(await pending.Dequeue().Within());
            }
        }
        var elapsed = clock.Elapsed;
        while (pending.Count > 0)
        {
            Count(await pending.Dequeue().Within());
        }
        return new FloodStats(sent, applied, rateLimited, other, elapsed);
    }

    private static string Describe(List<double> times)
    {
        var sorted = times.Order().ToList();
        double At(double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
        return $"p50 {At(0.50):0.00} ms, p99 {At(0.99):0.00} ms, max {sorted[^1]:0.00} ms ({sorted.Count} Sets)";
    }
}
