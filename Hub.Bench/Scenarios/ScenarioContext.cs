using System.Diagnostics;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>What a scenario runs with: the prepared environment, the size (full or quick), and the progress line.</summary>
internal sealed class ScenarioContext(DeploymentPool deployments, bool quick)
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    public bool Quick => quick;

    /// <summary>How long each measured run lasts.</summary>
    public TimeSpan Duration => quick ? TimeSpan.FromSeconds(0.5) : TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a freshly started system is loaded, untimed, before a throughput case measures it. .NET compiles
    /// code in tiers: on this machine a CollabHub instance needs about 100,000 writes (10 s) before its optimised code
    /// is in place and its write rate stops rising, 2-3× above where it starts (docs/performance.md, "Warm-up").
    /// </summary>
    public TimeSpan WarmUp => quick ? TimeSpan.FromSeconds(0.5) : TimeSpan.FromSeconds(10);

    /// <summary>A pause for things to settle (subscriptions, presence sends, memory): shorter in a quick run.</summary>
    public TimeSpan Settle(double seconds) => TimeSpan.FromSeconds(quick ? Math.Min(seconds, 0.3) : seconds);

    /// <summary>Where the scenario is, e.g. <c>fanout › Socket.IO › N=100, 1000/s (4/9)</c>; prefixed with the run's clock.</summary>
    public string Scenario { get; set; } = "";

    public void Say(string message) =>
        Console.WriteLine($"[{Clock.Elapsed:mm\\:ss}] {Scenario} › {message}");

    /// <summary>
    /// A deployment of <paramref name="system"/>; with <paramref name="warm"/> it has been loaded for
    /// <see cref="WarmUp"/> first (once per deployment: a reused one is not warmed again).
    /// </summary>
    public async Task<Deployment> StartAsync(SystemSpec system, int instances = 1, bool warm = false)
    {
        Say($"{system.Name}: {(quick ? "starting or reusing" : "starting")} {(instances == 1 ? "one instance" : $"{instances} instances")}{(system.Redis ? " and Redis" : "")}{(system.Store == StoreKind.Postgres ? " and PostgreSQL" : "")}");
        var deployment = await deployments.AcquireAsync(system, instances);
        if (warm && !deployment.WarmedUp)
        {
            await SystemWarmUp.RunAsync(this, deployment);
            deployment.WarmedUp = true;
        }
        return deployment;
    }
}

/// <summary>A scenario's results: its table rows and its charts (file name, chart).</summary>
internal sealed record ScenarioResult(List<ResultRow> Rows, List<(string File, SvgChart Chart)> Charts);

internal interface IScenario
{
    /// <summary>The name on the command line and in the output files.</summary>
    string Name { get; }

    Task<ScenarioResult> RunAsync(ScenarioContext context);
}
