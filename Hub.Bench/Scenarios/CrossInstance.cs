using CollabHub.Bench.Driver;
using CollabHub.Bench.Measurement;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// Two instances and one Redis: writers on instance 0 sharing a fixed rate, listeners on instance 1, so every event
/// crosses the backplane. Shared by <c>cross</c> (many writers: the backplane is measured, not one connection's
/// write path) and <c>burst</c> (one writer, as issue 14 asks): one row per system and rate, with the loss.
/// </summary>
internal static class CrossInstance
{
    private const string Room = "cross";
    /// <summary>Writes on their way (not yet received by every listener) that the writers allow themselves, together.</summary>
    private const int Window = 1024;

    public static readonly SystemSpec[] Systems = [SystemSpec.CollabHubRedis, SystemSpec.SignalRRedis, SystemSpec.SocketIORedis];

    public static async Task<List<ResultRow>> RunAsync(ScenarioContext context, string scenario, IReadOnlyList<double> rates, int listenerCount, int writerCount)
    {
        var rows = new List<ResultRow>();
        foreach (var system in Systems)
        {
            await using var deployment = await context.StartAsync(system, instances: 2, warm: true);
            var delivery = new DeliveryCounter();
            await using var writers = new ClientSet();
            await writers.ConnectAsync(deployment, 0, writerCount, i => new ClientPlan($"writer{i}", Room, Instance: 0), null, TimeSpan.FromMinutes(1), context.Say);
            await using var listeners = new ClientSet();
            await listeners.ConnectAsync(deployment, 0, listenerCount, _ => new ClientPlan("listener", Room, Instance: 1), (_, c) => c.Changed = delivery.OnChanged, TimeSpan.FromMinutes(1), context.Say);
            // Subscriptions across instances settle after the join answers; give them a moment before measuring.
            await Task.Delay(context.Settle(0.5));
            foreach (var rate in rates)
            {
                var label = $"{rate:#,0} writes/s{(writerCount == 1 ? "" : $" from {writerCount} writers")}, {listenerCount} listeners";
                context.Say($"{system.Name}: {label}");
                await using var resourceWindow = ResourceWindow.Start(deployment.Meter);
                delivery.StartWindow();
                var outcomes = await Task.WhenAll(writers.Clients.Select(writer =>
                    PacedWriter.RunAsync(writer, Room, rate / writers.Joined, context.Duration, Math.Max(1, Window / writers.Joined), delivery, listeners.Joined)));
                var outcome = WriterOutcome.Sum(outcomes);
                var expected = outcome.Acked * listeners.Joined;
                await delivery.DrainAsync(expected, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(15));
                var resources = await resourceWindow.StopAsync();
                var lost = expected - delivery.Received;
                var held = outcome.SentPerSecond >= 0.95 * rate && outcome.Failed == 0;
                rows.Add(new ResultRow(scenario, label, system.Name, delivery.Received / Math.Max(delivery.DeliverySeconds, context.Duration.TotalSeconds), "events/s",
                    delivery.Latency.PercentileMs(50), delivery.Latency.PercentileMs(95), delivery.Latency.PercentileMs(99), resources)
                {
                    Extra =
                    [
                        new("writes sent/s", Report.Number(outcome.SentPerSecond)),
                        new("events lost", lost.ToString("#,0")),
                        new("rate held", held && lost == 0 ? "yes" : "no"),
                    ],
                    ChartX = rate,
                    Incomplete = !held || lost != 0,
                });
            }
        }
        return rows;
    }

    /// <summary>The highest offered rate each system held with no loss, as a row per system.</summary>
    public static IEnumerable<ResultRow> MaximumWithoutLoss(string scenario, List<ResultRow> rows) =>
        rows.GroupBy(r => r.System).Select(g =>
        {
            var best = g.Where(r => !r.Incomplete).MaxBy(r => r.ChartX);
            return new ResultRow(scenario, "highest rate held with no loss", g.Key, best?.ChartX, "writes/s", best?.P50Ms, best?.P95Ms, best?.P99Ms, best?.Resources)
            {
                Extra = [new("rate held", best is null ? $"none of {string.Join(", ", g.Select(r => r.ChartX))}" : "yes")],
                Incomplete = best is null,
            };
        });

    public static (string, SvgChart) LatencyChart(string file, string title, List<ResultRow> rows) =>
        (file, new SvgChart(title, "offered writes/s", "latency, ms (log)", LogX: true, LogY: true,
            rows.Where(r => r.ChartX is not null && r.Case != "highest rate held with no loss").GroupBy(r => r.System).SelectMany(g => new[]
            {
                new ChartSeries($"{g.Key} p50", g.Where(r => r.P50Ms is not null).Select(r => (r.ChartX!.Value, r.P50Ms!.Value)).ToList(), Dashed: true, ColourKey: g.Key),
                new ChartSeries($"{g.Key} p99", g.Where(r => r.P99Ms is not null).Select(r => (r.ChartX!.Value, r.P99Ms!.Value)).ToList(), ColourKey: g.Key),
            }).ToList()));
}
