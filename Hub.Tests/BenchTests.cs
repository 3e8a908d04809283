using System.Diagnostics;
using System.Text;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>
/// Runs <c>Hub.Bench all --quick</c> (the benchmark at its smallest size, every system as real processes) so the
/// bench cannot rot: every scenario must give a row for every system it compares. Timings are never asserted.
/// </summary>
public sealed class BenchTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);

    /// <summary>The systems each scenario compares, as the bench names them in its rows.</summary>
    private static readonly Dictionary<string, string[]> ExpectedSystems = new()
    {
        ["fanout"] = ["CollabHub", "bare SignalR", "Socket.IO"],
        ["writes"] = ["CollabHub", "CollabHub (PostgreSQL)", "bare SignalR"],
        ["cross"] = ["CollabHub + its Redis backplane", "SignalR + stock Redis backplane", "Socket.IO + redis-adapter"],
        ["connections"] = ["CollabHub", "bare SignalR", "Socket.IO"],
        ["resync"] = ["CollabHub, rejoin with sinceSeq", "CollabHub, full reload", "bare SignalR, reconnect and join (no state)"],
        ["burst"] = ["CollabHub", "bare SignalR", "Socket.IO", "CollabHub + its Redis backplane", "SignalR + stock Redis backplane", "Socket.IO + redis-adapter"],
        ["rooms"] = ["CollabHub", "bare SignalR"],
    };

    [Fact]
    public async Task The_quick_benchmark_runs_every_scenario_and_every_system_measures_something_in_each()
    {
        using var output = new TempDirectory();
        var (exitCode, log) = await RunBenchAsync(output.Path);
        Assert.True(exitCode == 0, $"Hub.Bench all --quick exited with {exitCode}:\n{log}");

        using var results = JsonDocument.Parse(await File.ReadAllTextAsync(output.File("results.json")));
        var scenarios = results.RootElement.GetProperty("scenarios").EnumerateArray()
            .ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("rows").EnumerateArray().ToList());
        Assert.Equal(ExpectedSystems.Keys.Order(), scenarios.Keys.Order());
        foreach (var (scenario, systems) in ExpectedSystems)
        {
            var rows = scenarios[scenario];
            foreach (var system in systems)
            {
                var ofSystem = rows.Where(r => r.GetProperty("system").GetString() == system).ToList();
                Assert.True(ofSystem.Count > 0, $"{scenario} has no row for {system}.\n{log}");
                // A row may say that a case did not finish (a deadline on a loaded machine); one measured row is the proof of life.
                Assert.True(
                    ofSystem.Any(row => row.GetProperty("throughput").ValueKind == JsonValueKind.Number && row.GetProperty("throughput").GetDouble() > 0),
                    $"{scenario}: no row of {system} measured anything.\n{string.Join('\n', ofSystem)}\n{log}");
            }
            Assert.True(File.Exists(output.File($"{scenario}.md")), $"{scenario}.md was not written");
        }
        Assert.True(File.Exists(output.File("results.md")), "results.md was not written");
    }

    private static async Task<(int ExitCode, string Log)> RunBenchAsync(string outputFolder)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var benchDll = Path.Combine(RepoPaths.Root, "Hub.Bench", "bin", configuration, "net10.0", "Hub.Bench.dll");
        Assert.True(File.Exists(benchDll), $"Hub.Bench is not built at {benchDll}; run `dotnet build` at the repository root first.");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { benchDll, "all", "--quick", "--out", outputFolder },
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var log = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Fail($"Hub.Bench all --quick did not finish within {RunTimeout.TotalMinutes} minutes and was killed:\n{Log()}");
        }
        await process.WaitForExitAsync(); // the output readers finish
        return (process.ExitCode, Log());

        void Append(string? line)
        {
            if (line is not null)
            {
                lock (log)
                {
                    log.AppendLine(line);
                }
            }
        }

        string Log()
        {
            lock (log)
            {
                return log.ToString();
            }
        }
    }
}
