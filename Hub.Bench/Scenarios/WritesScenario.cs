using System.Diagnostics;
using CollabHub.Bench.Driver;
using CollabHub.Bench.Measurement;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// Acknowledged writes: W writers (connections), each sending its next Set when the last one is answered, spread over
/// 1 or 100 rooms. CollabHub on SQLite (the default) and on PostgreSQL, against the bare hub as the ceiling. Every
/// writer has joined its room (CollabHub requires it), so each write is also broadcast to the room's writers.
/// </summary>
internal sealed class WritesScenario : IScenario
{
    public string Name => "writes";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        int[] writerCounts = context.Quick ? [1, 16] : [1, 16, 64, 256];
        int[] roomCounts = context.Quick ? [1] : [1, 100];
        var rows = new List<ResultRow>();
        foreach (var system in new[] { SystemSpec.CollabHub, SystemSpec.CollabHubPostgres, SystemSpec.BareSignalR })
        {
            await using var deployment = await context.StartAsync(system, warm: true);
            foreach (var rooms in roomCounts)
            {
                await using var writers = new ClientSet();
                var connected = 0;
                foreach (var count in writerCounts)
                {
                    // Writer i joins room i mod rooms; each is its own user, as writers in an app would be.
                    await writers.ConnectAsync(deployment, connected, count, i => new ClientPlan($"writer{i}", $"writes{i % rooms}"), null, TimeSpan.FromMinutes(1), context.Say);
                    connected = count;
                    var label = $"{count} writers, {rooms} room{(rooms == 1 ? "" : "s")}";
                    context.Say($"{system.Name}: {label}");
                    rows.Add(await MeasureAsync(context, deployment, writers, rooms, label, count));
                }
            }
        }
        return new ScenarioResult(rows, [Chart(rows, 1), .. roomCounts.Length > 1 ? [Chart(rows, 100)] : Array.Empty<(string, SvgChart)>()]);
    }

    private async Task<ResultRow> MeasureAsync(ScenarioContext context, Deployment deployment, ClientSet writers, int rooms, string label, int count)
    {
        var latency = new LatencyHistogram();
        long acked = 0, failed = 0;
        await using var window = ResourceWindow.Start(deployment.Meter);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(writers.Numbered.Where(w => w.Key < count).Select(w => Task.Run(async () =>
        {
            var (i, client) = (w.Key, w.Value);
            var room = $"writes{i % rooms}";
            for (var n = 0; clock.Elapsed < context.Duration; n++)
            {
                var value = BenchValue.Now();
                try
                {
                    // 20 keys per writer: at 256 writers in one room that is 5,120 live keys, under CollabHub's 10,000.
                    await client.SetAsync(room, $"w{i}k{n % 20}", value);
                    latency.Record(BenchValue.MicrosecondsSince(value.T));
                    Interlocked.Increment(ref acked);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        })));
        var elapsed = clock.Elapsed.TotalSeconds;
        var resources = await window.StopAsync();
        return new ResultRow(Name, label, deployment.System.Name, acked / elapsed, "writes/s",
            latency.PercentileMs(50), latency.PercentileMs(95), latency.PercentileMs(99), resources)
        {
            Extra = [new("failed", failed.ToString("#,0"))],
            ChartX = count,
            ChartValues = { ["rooms"] = rooms },
            Incomplete = failed > 0,
        };
    }

    private static (string, SvgChart) Chart(List<ResultRow> rows, int rooms)
    {
        var series = rows.Where(r => r.ChartValues["rooms"] == rooms).GroupBy(r => r.System)
            .Select(g => new ChartSeries(g.Key, g.Select(r => (r.ChartX!.Value, r.Throughput ?? 0)).ToList()))
            .ToList();
        return ($"writes-{rooms}room{(rooms == 1 ? "" : "s")}.svg",
            new SvgChart($"writes: acknowledged writes/s against writers, {rooms} room{(rooms == 1 ? "" : "s")}", "concurrent writers", "acknowledged writes/s", LogX: true, LogY: false, series));
    }
}
