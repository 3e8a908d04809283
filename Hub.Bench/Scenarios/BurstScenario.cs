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
    /// <summary>Timed bursts per system (after one untimed).</summary>
    private const int Rounds = 5;

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
        // One untimed burst first, so that every system is measured warm (its code compiled, its pools filled)
        // rather than on its first requests after start.
        await FireAsync(client, "burst-warm-up", count, new LatencyHistogram());
        // Several timed bursts, each on fresh keys: one burst lasts a tenth of a second, so a single one would measure
        // whatever else the machine did in that moment. The row shows the median burst's rate.
        var latency = new LatencyHistogram();
        var rates = new List<double>();
        var acked = 0;
        var inOrder = true;
        await using var window = ResourceWindow.Start(deployment.Meter);
        for (var round = 0; round < Rounds; round++)
        {
            var (settled, elapsed) = await FireAsync(client, $"burst-{round}", count, latency);
            var roundAcked = settled.Count(seq => seq > 0);
            acked += roundAcked;
            inOrder &= roundAcked == count && settled.Zip(settled.Skip(1)).All(p => p.First < p.Second);
            rates.Add(roundAcked / elapsed.TotalSeconds);
        }
        var resources = await window.StopAsync();
        rates.Sort();
        return new ResultRow(Name, $"{count:#,0} Sets without waiting", deployment.System.Name, rates[rates.Count / 2], "writes/s",
            latency.PercentileMs(50), latency.PercentileMs(95), latency.PercentileMs(99), resources)
        {
            Extra = [new("acknowledged", $"{acked:#,0} of {count * Rounds:#,0}"), new("committed in send order", inOrder ? "yes" : "no")],
            Incomplete = !inOrder,
        };
    }

    /// <summary>
    /// Joins a room of its own (a room holds a limited number of keys), sends <paramref name="count"/> Sets to it without
    /// waiting, then returns the seq of each answer (-1 for a failure) and the time from the first send to the last answer.
    /// </summary>
    private static async Task<(long[] Seqs, TimeSpan Elapsed)> FireAsync(IBenchClient client, string roomId, int count, LatencyHistogram latency)
    {
        await client.JoinAsync(roomId, null, CancellationToken.None);
        var clock = Stopwatch.StartNew();
        var sends = new Task<long>[count];
        for (var i = 0; i < count; i++)
        {
            sends[i] = SendAsync(client, roomId, $"k{i}", latency);
        }
        var seqs = await Task.WhenAll(sends.Select(async s =>
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
        return (seqs, clock.Elapsed);
    }

    private static async Task<long> SendAsync(IBenchClient client, string roomId, string key, LatencyHistogram latency)
    {
        var value = BenchValue.Now();
        var seq = await client.SetAsync(roomId, key, value);
        latency.Record(BenchValue.MicrosecondsSince(value.T));
        return seq;
    }
}
