using System.Diagnostics;
using CollabHub.Bench.Driver;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// Loads a freshly started system, untimed, for <see cref="ScenarioContext.WarmUp"/> before a throughput case measures
/// it, so that every system is measured with its code compiled to its final tier rather than in its first seconds.
/// One client per instance, all in one room: each instance's write path, and with a backplane its receive path too.
/// </summary>
internal static class SystemWarmUp
{
    private const string Room = "warm-up";

    /// <summary>Sets each client has on its way at once: enough to keep a server busy, few enough to never be refused.</summary>
    private const int InFlight = 64;

    public static async Task RunAsync(ScenarioContext context, Deployment deployment)
    {
        context.Say($"{deployment.System.Name}: warming up for {context.WarmUp.TotalSeconds:0.#} s");
        await using var clients = new ClientSet();
        await clients.ConnectAsync(deployment, 0, deployment.Urls.Count, i => new ClientPlan($"warm-up{i}", Room, Instance: i), null, TimeSpan.FromMinutes(1), context.Say);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(clients.Clients.Select(async client =>
        {
            for (var round = 0; clock.Elapsed < context.WarmUp; round++)
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
    }
}
