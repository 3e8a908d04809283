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
    /// <summary>Timed bursts per system, after the warm-up: the row shows the median burst's rate.</summary>
    private const int Rounds = 15;

    /// <summary>The first bursts after start, whose median the row shows as the cold rate.</summary>
    private const int ColdRounds = 5;

    public string Name => "burst";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        var count = context.Quick ? 200 : 2_000;
        var rows = new List<ResultRow>();
        foreach (var system in new[] { SystemSpec.CollabHub, SystemSpec.BareSignalR, SystemSpec.SocketIO })
        {
            await using var deployment = await context.StartAsync(system);
            context.Say($"{system.Name}: {count:#,0} Sets on one connection without waiting");
            rows.Add(await BurstAsync(context, deployment, count));
        }
        double[] rates = context.Quick ? [200] : [1_000, 5_000];
        rows.AddRange(await CrossInstance.RunAsync(context, Name, rates, listenerCount: context.Quick ? 2 : 10, writerCount: 1));
        return new ScenarioResult(rows, [CrossInstance.LatencyChart("burst-cross.svg", "burst: delivery latency to another instance", rows.Where(r => r.ChartX is not null).ToList())]);
    }

    private async Task<ResultRow> BurstAsync(ScenarioContext context, Deployment deployment, int count)
    {
        await using var client = deployment.Client("burst");
        await client.ConnectAsync(CancellationToken.None);
        var cold = await WarmUpAsync(client, count, context.WarmUp);
        await SystemWarmUp.UntilIdleAsync(context, deployment);
        // Timed bursts, each on fresh keys: one burst lasts a tenth of a second, so a single one would measure whatever
        // else the machine did in that moment.
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
        return new ResultRow(Name, $"{count:#,0} Sets without waiting", deployment.System.Name, Median(rates), "writes/s",
            latency.PercentileMs(50), latency.PercentileMs(95), latency.PercentileMs(99), resources)
        {
            Extra =
            [
                new("acknowledged", $"{acked:#,0} of {count * Rounds:#,0}"),
                new("committed in send order", inOrder ? "yes" : "no"),
                new("cold: first bursts after start", $"{cold:#,0} writes/s"),
            ],
            Incomplete = !inOrder,
        };
    }

    /// <summary>
    /// Untimed bursts for <paramref name="warmUp"/> (<see cref="ScenarioContext.WarmUp"/>), so that every system is
    /// measured with its code compiled to its final tier and its pools filled, as a server is after its first seconds;
    /// returns the median rate of the first bursts, what a freshly started instance does.
    /// </summary>
    private static async Task<double> WarmUpAsync(IBenchClient client, int count, TimeSpan warmUp)
    {
        var rates = new List<double>();
        var clock = Stopwatch.StartNew();
        // Rooms of its own: a connection may be in at most 100 rooms, so the warm-up reuses a few.
        for (var round = 0; round < ColdRounds || clock.Elapsed < warmUp; round++)
        {
            var (settled, elapsed) = await FireAsync(client, $"burst-warm-up-{round % 20}", count, new LatencyHistogram());
            if (round < ColdRounds)
            {
                rates.Add(settled.Count(seq => seq > 0) / elapsed.TotalSeconds);
            }
        }
        return Median(rates);
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
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
