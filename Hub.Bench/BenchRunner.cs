using System.Diagnostics;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Scenarios;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench;

/// <summary>
/// <c>Hub.Bench &lt;scenario|all&gt; [--quick] [--out DIR]</c>: runs the scenarios one after another, each against
/// every system it compares, prints each table as it ends, and writes tables, JSON and charts to the output folder.
/// Exit code 0 when every scenario ran (a system that missed a deadline still gets its row), 1 when one threw,
/// 2 for a bad command line.
/// </summary>
internal static class BenchRunner
{
    private static readonly IScenario[] Scenarios =
    [
        new FanoutScenario(),
        new WritesScenario(),
        new CrossScenario(),
        new ConnectionsScenario(),
        new ResyncScenario(),
        new BurstScenario(),
        new RoomsScenario(),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var scenarioName = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal));
        var quick = args.Contains("--quick");
        var outAt = Array.IndexOf(args, "--out");
        // By default at the repository root, wherever the bench was started from (`dotnet run` starts it in Hub.Bench/).
        var output = outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine(Processes.RepoPaths.Root, "BenchmarkResults");
        var selected = scenarioName == "all" ? Scenarios : Scenarios.Where(s => s.Name == scenarioName).ToArray();
        if (scenarioName is null || selected.Length == 0 || (outAt >= 0 && outAt + 1 >= args.Length))
        {
            Console.Error.WriteLine($"usage: dotnet run -c Release --project Hub.Bench -- <{string.Join('|', Scenarios.Select(s => s.Name))}|all> [--quick] [--out DIR]");
            return 2;
        }

        var clock = Stopwatch.StartNew();
        var machine = MachineInfo.Collect();
        Console.WriteLine($"Hub.Bench: {string.Join(", ", selected.Select(s => s.Name))}{(quick ? " (quick)" : "")} on {machine.Cores} cores, load {machine.LoadAverage}; results to {Path.GetFullPath(output)}");
        using var environment = await BenchEnvironment.PrepareAsync(message => Console.WriteLine($"[setup] {message}"));
        var report = new Report(output, machine, $"Hub.Bench {string.Join(' ', args)}");
        var failures = 0;
        await using var deployments = new DeploymentPool(environment, reuse: quick);
        foreach (var scenario in selected)
        {
            var context = new ScenarioContext(deployments, quick) { Scenario = scenario.Name };
            try
            {
                var result = await scenario.RunAsync(context);
                report.Add(scenario.Name, result.Rows, result.Charts);
            }
            catch (Exception ex)
            {
                failures++;
                Console.Error.WriteLine($"{scenario.Name} failed: {ex}");
            }
        }
        report.WriteSummary(clock.Elapsed);
        Console.WriteLine($"Hub.Bench done in {clock.Elapsed.TotalMinutes:F1} minutes: {Path.GetFullPath(Path.Combine(output, "results.md"))}");
        return failures == 0 ? 0 : 1;
    }
}
