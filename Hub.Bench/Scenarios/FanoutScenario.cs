using CollabHub.Bench.Driver;
using CollabHub.Bench.Measurement;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// One room, one writer at fixed rates (and then as fast as it can while every listener keeps up), N listeners:
/// delivered events/s and the end-to-end latency from the writer's send to each listener's receipt.
/// </summary>
internal sealed class FanoutScenario : IScenario
{
    private const string Room = "fanout";

    /// <summary>
    /// At a system's maximum the writer keeps about 10,000 events on their way (writes not yet received by every
    /// listener; 4 to 256 writes): enough to keep the server busy, few enough that latency is not just a queue.
    /// </summary>
    private static int MaxWindow(int listeners) => Math.Clamp(10_000 / listeners, 4, 256);

    public string Name => "fanout";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        int[] listenerCounts = context.Quick ? [10] : [10, 100, 1000];
        var rows = new List<ResultRow>();
        foreach (var system in new[] { SystemSpec.CollabHub, SystemSpec.BareSignalR, SystemSpec.SocketIO })
        {
            await using var deployment = await context.StartAsync(system, warm: true);
            var delivery = new DeliveryCounter();
            await using var writer = deployment.Client("writer");
            await writer.ConnectAsync(CancellationToken.None);
            await writer.JoinAsync(Room, null, CancellationToken.None);
            await using var listeners = new ClientSet();
            var connected = 0;
            foreach (var n in listenerCounts)
            {
                context.Say($"{system.Name}: {n} listeners");
                // Listeners share one user name: CollabHub's presence then stays one entry (rooms measures distinct users).
                await listeners.ConnectAsync(deployment, connected, n, _ => new ClientPlan("listener", Room), (_, c) => c.Changed = delivery.OnChanged, TimeSpan.FromMinutes(2), context.Say);
                connected = n;
                if (listeners.Joined < n)
                {
                    rows.Add(Failed(system, n, $"{listeners.Joined} of {n} listeners joined: {listeners.FirstError}"));
                    break;
                }
                // Fixed rates offering 1,000 and 10,000 events/s whatever N is, then each system's maximum.
                double?[] rates = context.Quick ? [100, null] : [1_000.0 / n, 10_000.0 / n, null];
                foreach (var rate in rates)
                {
                    var label = Case(n, rate);
                    context.Say($"{system.Name}: {label}");
                    await using var resourceWindow = ResourceWindow.Start(deployment.Meter);
                    delivery.StartWindow();
                    // At a fixed rate the writes on their way are bounded too (about 100,000 events), so a system that cannot
                    // keep up shows it in the rate it was offered, not in a backlog that spills into the next run.
                    var window = rate is null ? MaxWindow(n) : Math.Max(64, 100_000 / n);
                    var outcome = await PacedWriter.RunAsync(writer, Room, rate, context.Duration, window, delivery, listeners.Joined);
                    var expected = outcome.Acked * listeners.Joined;
                    await delivery.DrainAsync(expected, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(15));
                    var resources = await resourceWindow.StopAsync();
                    var received = delivery.Received;
                    rows.Add(new ResultRow(Name, label, system.Name, received / Math.Max(delivery.DeliverySeconds, context.Duration.TotalSeconds), "events/s",
                        delivery.Latency.PercentileMs(50), delivery.Latency.PercentileMs(95), delivery.Latency.PercentileMs(99), resources)
                    {
                        Extra =
                        [
                            new("writes sent/s", Report.Number(outcome.SentPerSecond)),
                            new("events lost", (expected - received).ToString("#,0")),
                        ],
                        ChartX = outcome.SentPerSecond * listeners.Joined,
                        ChartValues = { ["listeners"] = n },
                        Incomplete = received < expected,
                    });
                }
            }
        }
        return new ScenarioResult(rows, Charts(rows, listenerCounts));
    }

    private static string Case(int listeners, double? rate) => $"N={listeners}, {(rate is { } r ? $"{r:#,0} writes/s ({r * listeners:#,0} events/s)" : "max")}";

    private ResultRow Failed(SystemSpec system, int n, string why) =>
        new(Name, Case(n, null), system.Name, null, "events/s", null, null, null, null) { Extra = [new("events lost", why)], Incomplete = true };

    /// <summary>For each N: p50 and p99 latency against the delivered rate, one line per system and percentile.</summary>
    private static List<(string, SvgChart)> Charts(List<ResultRow> rows, int[] listenerCounts) =>
        listenerCounts.Select(n =>
        {
            var ofN = rows.Where(r => r.ChartValues.TryGetValue("listeners", out var l) && l == n && r.Throughput is not null).ToList();
            var series = ofN.GroupBy(r => r.System).SelectMany(g => new[]
            {
                new ChartSeries($"{g.Key} p50", g.Where(r => r.P50Ms is not null).Select(r => (r.Throughput!.Value, r.P50Ms!.Value)).ToList(), Dashed: true, ColourKey: g.Key),
                new ChartSeries($"{g.Key} p99", g.Where(r => r.P99Ms is not null).Select(r => (r.Throughput!.Value, r.P99Ms!.Value)).ToList(), ColourKey: g.Key),
            }).ToList();
            return ($"fanout-n{n}.svg", new SvgChart($"fanout, N={n} listeners: latency against delivered events/s", "delivered events/s", "latency, ms (log)", LogX: true, LogY: true, series));
        }).ToList();
}
