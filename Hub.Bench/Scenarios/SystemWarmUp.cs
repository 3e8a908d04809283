using System.Diagnostics;
using CollabHub.Bench.Driver;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// Loads a freshly started system, untimed, for <see cref="ScenarioContext.WarmUp"/> before a throughput case measures
/// it, so that every system is measured with its code compiled to its final tier rather than in its first seconds.
/// One client per instance, all in one room, sends Sets: each instance's write path, and with a backplane its receive
/// path too. Alongside, short-lived clients connect, join a room of their own and leave, one after the other on each
/// instance in turn: the path of a connect and a join (negotiation, authentication, the join's store read, presence).
/// </summary>
internal static class SystemWarmUp
{
    private const string Room = "warm-up";
    private const string JoinRoom = "warm-up-joins";

    /// <summary>Sets each client has on its way at once: enough to keep a server busy, few enough to never be refused.</summary>
    private const int InFlight = 64;

    /// <summary>Below this share of one core over half a second, a system counts as idle.</summary>
    private const double IdleShare = 0.05;

    private static readonly TimeSpan MaxIdleWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan QuickMaxIdleWait = TimeSpan.FromSeconds(2);

    public static async Task RunAsync(ScenarioContext context, Deployment deployment)
    {
        context.Say($"{deployment.System.Name}: warming up for {context.WarmUp.TotalSeconds:0.#} s");
        await using var clients = new ClientSet();
        await clients.ConnectAsync(deployment, 0, deployment.Urls.Count, i => new ClientPlan($"warm-up{i}", Room, Instance: i), null, TimeSpan.FromMinutes(1), context.Say);
        var clock = Stopwatch.StartNew();
        var joins = ConnectAndJoinAsync(deployment, clock, context.WarmUp);
        await Task.WhenAll(clients.Clients.Select(async client =>
        {
            while (clock.Elapsed < context.WarmUp)
            {
                // Failures do not matter here: the system is only being exercised.
                await Task.WhenAll(Enumerable.Range(0, InFlight).Select(async i =>
                {
                    try
                    {
                        await client.SetAsync(Room, $"k{i}", BenchValue.Now());
                    }
                    catch (Exception)
                    {
                    }
                }));
            }
        }));
        await joins;
        await UntilIdleAsync(context, deployment);
    }

    /// <summary>
    /// Waits until the system's processes are nearly idle: .NET compiles the code the load made hot on a background
    /// thread, which on this machine stays busy for several seconds after the load (up to four fifths of the server's
    /// CPU in a measurement right after it), so that compile queue drains here rather than inside the next measurement.
    /// </summary>
    public static async Task UntilIdleAsync(ScenarioContext context, Deployment deployment)
    {
        var waited = Stopwatch.StartNew();
        var interval = TimeSpan.FromMilliseconds(500);
        // A quick run only checks that everything works: its figures are not compared.
        var maxWait = context.Quick ? QuickMaxIdleWait : MaxIdleWait;
        var cpu = deployment.Meter.CpuSeconds();
        while (waited.Elapsed < maxWait)
        {
            await Task.Delay(interval);
            var now = deployment.Meter.CpuSeconds();
            var busy = (now - cpu) / interval.TotalSeconds;
            cpu = now;
            if (busy < IdleShare)
            {
                context.Say($"{deployment.System.Name}: idle after {waited.Elapsed.TotalSeconds:0.0} s");
                return;
            }
        }
        context.Say($"{deployment.System.Name}: still {IdleShare:P0}+ busy after {maxWait.TotalSeconds:0} s; measuring anyway");
    }

    private static async Task ConnectAndJoinAsync(Deployment deployment, Stopwatch clock, TimeSpan duration)
    {
        for (var i = 0; clock.Elapsed < duration; i++)
        {
            try
            {
                await using var client = deployment.Client($"warm-up-joiner{i % 100}", instance: i % deployment.Urls.Count);
                await client.ConnectAsync(CancellationToken.None);
                await client.JoinAsync(JoinRoom, null, CancellationToken.None);
            }
            catch (Exception)
            {
                // As above: only exercised, and a failure is the measured scenario's to show.
            }
        }
    }
}
