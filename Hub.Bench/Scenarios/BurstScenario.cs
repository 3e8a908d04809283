using System.Diagnostics;
using CollabHub.Bench.Driver;
using CollabHub.Bench.Measurement;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// Issue 14's burst: one connection fires 2,000 Sets without waiting for answers (the rate, against the bare hub,
/// and whether every one committed in send order: the seqs of the answers rise with the send order); then a writer at
/// 1,000 and 5,000 Sets/s on one instance with listeners on another (p99 delivery latency).
/// </summary>
internal sealed class BurstScenario : IScenario
{
    public string Name => "burst";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        var count = context.Quick ? 200 : 2_000;
        var rows = new List<ResultRow>();
        foreach (var system in new[] { SystemSpec.CollabHub, SystemSpec.BareSignalR, SystemSpec.SocketIO })
        {
            await using var deployment = await context.StartAsync(system);
            context.Say($"{system.Name}: {count:#,0} Sets on one connection without waiting");
            rows.Add(await BurstAsync(deployment, count));
        }
        double[] rates = context.Quick ? [200] : [1_000, 5_000];
        rows.AddRange(await CrossInstance.RunAsync(context, Name, rates, listenerCount: context.Quick ? 2 : 10, writerCount: 1));
        return new ScenarioResult(rows, [CrossInstance.LatencyChart("burst-cross.svg", "burst: delivery latency to another instance", rows.Where(r => r.ChartX is not null).ToList())]);
    }

    private async Task<ResultRow> BurstAsync(Deployment deployment, int count)
    {
        await using var client = deployment.Client("burst");
        await client.ConnectAsync(CancellationToken.None);
        await client.JoinAsync("burst", null, CancellationToken.None);
        var latency = new LatencyHistogram();
        await using var window = ResourceWindow.Start(deployment.Meter);
        var clock = Stopwatch.StartNew();
        var sends = new Task<long>[count];
        for (var i = 0; i < count; i++)
        {
            sends[i] = SendAsync(client, $"k{i}", latency);
        }
        var settled = await Task.WhenAll(sends.Select(async s =>
        {
            try
            {
                return await s;
            }
            catch (Exception)
            {
                return -1;
            }
        })).WaitAsync(TimeSpan.FromMinutes(2));
        var elapsed = clock.Elapsed;
        var resources = await window.StopAsync();
        var acked = settled.Count(seq => seq > 0);
        var inOrder = acked == count && settled.Zip(settled.Skip(1)).All(p => p.First < p.Second);
        return new ResultRow(Name, $"{count:#,0} Sets without waiting", deployment.System.Name, acked / elapsed.TotalSeconds, "writes/s",
            latency.PercentileMs(50), latency.PercentileMs(95), latency.PercentileMs(99), resources)
        {
            Extra = [new("acknowledged", $"{acked:#,0} of {count:#,0}"), new("committed in send order", inOrder ? "yes" : "no")],
            Incomplete = !inOrder,
        };
    }

    private static async Task<long> SendAsync(IBenchClient client, string key, LatencyHistogram latency)
    {
        var value = BenchValue.Now();
        var seq = await client.SetAsync("burst", key, value);
        latency.Record(BenchValue.MicrosecondsSince(value.T));
        return seq;
    }
}
