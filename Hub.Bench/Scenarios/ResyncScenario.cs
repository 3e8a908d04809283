using System.Diagnostics;
using System.Globalization;
using CollabHub.Bench.Driver;
using CollabHub.Bench.Measurement;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// 2,000 clients in 20 rooms (400 keys each) behind a proxy lose their connections at once while a writer per room
/// goes on writing; each reconnects at once and rejoins. Measured: the time until every client is caught up (its
/// rejoin, and any further pages, answered), and the bytes of those answers per client. CollabHub's rejoin with
/// <c>sinceSeq</c> against a client that reloads the room in full, and the bare hub's reconnect as the floor.
/// </summary>
internal sealed class ResyncScenario : IScenario
{
    public string Name => "resync";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        var (clients, rooms, keys) = context.Quick ? (100, 4, 50) : (2_000, 20, 400);
        var rows = new List<ResultRow>();
        foreach (var system in new[] { SystemSpec.CollabHub, SystemSpec.BareSignalR })
        {
            await using var deployment = await context.StartAsync(system);
            context.Say($"{system.Name}: {rooms} rooms of {keys} keys");
            await PrefillAsync(deployment, rooms, keys);
            await using var proxy = new CutProxy(deployment.Urls[0]);
            var resyncing = new System.Collections.Concurrent.ConcurrentBag<ResyncingClient>();
            await using var set = new ClientSet();
            await set.ConnectAsync(deployment, 0, clients, i => new ClientPlan($"user{i % rooms}", Room(i % rooms), Url: proxy.Front(deployment.Urls[0])),
                (i, client) => resyncing.Add(new ResyncingClient((SignalRBenchClient)client, Room(i % rooms))), TimeSpan.FromMinutes(2), context.Say);
            var joined = set.Clients.ToHashSet();
            await using var writers = new WritersInBackground(deployment, rooms, keys);
            await Task.Delay(context.Settle(1));
            var modes = system.IsCollabHub ? new[] { true, false } : [false];
            foreach (var sinceSeq in modes)
            {
                var label = $"{clients:#,0} clients, {rooms} rooms of {keys} keys";
                var how = system.IsCollabHub ? (sinceSeq ? "CollabHub, rejoin with sinceSeq" : "CollabHub, full reload") : $"{system.Name}, reconnect and join (no state)";
                context.Say($"{how}: cutting {clients:#,0} connections");
                rows.Add(await CutAndMeasureAsync(context, deployment, proxy, resyncing.Where(c => joined.Contains(c.Client)).ToList(), sinceSeq, label, how));
            }
        }
        return new ScenarioResult(rows, []);
    }

    private static string Room(int i) => $"resync{i}";

    private async Task<ResultRow> CutAndMeasureAsync(ScenarioContext context, Deployment deployment, CutProxy proxy, List<ResyncingClient> clients, bool sinceSeq, string label, string how)
    {
        var deadline = context.Quick ? TimeSpan.FromSeconds(20) : TimeSpan.FromSeconds(60);
        var latency = new LatencyHistogram();
        var done = new CountdownEvent(clients.Count);
        long bytes = 0;
        foreach (var client in clients)
        {
            client.Arm(sinceSeq, latency, answerBytes => Interlocked.Add(ref bytes, answerBytes), () => done.Signal());
        }
        await using var window = ResourceWindow.Start(deployment.Meter);
        var clock = Stopwatch.StartNew();
        proxy.CutAll();
        var all = await Task.Run(() => done.Wait(deadline));
        var elapsed = clock.Elapsed;
        var resources = await window.StopAsync();
        var caughtUp = clients.Count - done.CurrentCount;
        return new ResultRow(Name, label, how, caughtUp / elapsed.TotalSeconds, "clients/s", latency.PercentileMs(50), latency.PercentileMs(95), latency.PercentileMs(99), resources)
        {
            Extra =
            [
                new("caught up", all ? $"all {clients.Count:#,0}" : $"{caughtUp:#,0} of {clients.Count:#,0} in {deadline.TotalSeconds:0} s"),
                new("time until all caught up, s", all ? elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) : $"> {deadline.TotalSeconds:0}"),
                new("bytes per client", (bytes / Math.Max(1, caughtUp)).ToString("#,0", CultureInfo.InvariantCulture)),
            ],
            Incomplete = !all,
        };
    }

    /// <summary>Sets <paramref name="keys"/> keys in every room, 100-byte values, 16 at a time per room.</summary>
    private static async Task PrefillAsync(Deployment deployment, int rooms, int keys)
    {
        await Task.WhenAll(Enumerable.Range(0, rooms).Select(async room =>
        {
            await using var writer = deployment.Client($"filler{room}");
            await writer.ConnectAsync(CancellationToken.None);
            await writer.JoinAsync(Room(room), null, CancellationToken.None);
            await Parallel.ForAsync(0, keys, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (k, _) => await writer.SetAsync(Room(room), $"key{k}", BenchValue.Now()));
        }));
    }

    /// <summary>A writer per room, directly on the server (not through the proxy), each at 10 Sets/s over the room's keys, until disposed.</summary>
    private sealed class WritersInBackground : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _writing;

        public WritersInBackground(Deployment deployment, int rooms, int keys) =>
            _writing = Task.WhenAll(Enumerable.Range(0, rooms).Select(room => WriteAsync(deployment, room, keys, _stop.Token)));

        private static async Task WriteAsync(Deployment deployment, int room, int keys, CancellationToken stop)
        {
            await using var writer = deployment.Client($"writer{room}");
            await writer.ConnectAsync(stop);
            await writer.JoinAsync(Room(room), null, stop);
            using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                await writer.SetAsync(Room(room), $"key{n * 7 % keys}", BenchValue.Now());
                try
                {
                    await tick.WaitForNextTickAsync(stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _writing;
            }
            catch (OperationCanceledException)
            {
            }
            _stop.Dispose();
        }
    }

    /// <summary>
    /// A client that follows its room (the highest seq it has seen, from events and answers) and, when its connection
    /// drops while armed, reconnects at once and rejoins: with <c>sinceSeq</c>, or without (a full reload), then
    /// follows <c>hasMore</c> with Sync.
    /// </summary>
    private sealed class ResyncingClient
    {
        private long _seq;
        private Armed? _armed;

        public ResyncingClient(SignalRBenchClient client, string roomId)
        {
            Client = client;
            RoomId = roomId;
            client.Changed = change => InterlockedMax(change.Seq);
            client.Closed += _ => Task.Run(ResyncAsync);
        }

        public SignalRBenchClient Client { get; }

        public string RoomId { get; }

        private sealed record Armed(bool SinceSeq, LatencyHistogram Latency, Action<int> Bytes, Action Done, long CutAt);

        public void Arm(bool sinceSeq, LatencyHistogram latency, Action<int> bytes, Action done) =>
            _armed = new Armed(sinceSeq, latency, bytes, done, Stopwatch.GetTimestamp());

        private async Task ResyncAsync()
        {
            if (Interlocked.Exchange(ref _armed, null) is not { } armed)
            {
                return;
            }
            while (true)
            {
                try
                {
                    await Client.ConnectAsync(CancellationToken.None);
                    var answer = await Client.JoinAsync(RoomId, armed.SinceSeq ? Interlocked.Read(ref _seq) : null, CancellationToken.None);
                    armed.Bytes(answer.Bytes);
                    while (answer.HasMore)
                    {
                        answer = await Client.SyncAsync(RoomId, answer.Seq, CancellationToken.None);
                        armed.Bytes(answer.Bytes);
                    }
                    InterlockedMax(answer.Seq);
                    armed.Latency.Record((long)Stopwatch.GetElapsedTime(armed.CutAt).TotalMicroseconds);
                    armed.Done();
                    return;
                }
                catch (Exception)
                {
                    // The server is busy with everyone else coming back: try again shortly, as a client SDK would.
                    await Task.Delay(100 + Random.Shared.Next(100));
                }
            }
        }

        private void InterlockedMax(long seq)
        {
            var seen = Interlocked.Read(ref _seq);
            while (seq > seen && Interlocked.CompareExchange(ref _seq, seq, seen) is var was && was != seen)
            {
                seen = was;
            }
        }
    }
}
