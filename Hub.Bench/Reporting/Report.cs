using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CollabHub.Bench.Reporting;

/// <summary>
/// The results of one run: each scenario's rows and charts. Prints a scenario's table when it ends and writes it as
/// Markdown (<c>{scenario}.md</c>), JSON (<c>{scenario}.json</c>) and SVG charts to the output folder; at the end,
/// <c>results.md</c> and <c>results.json</c> hold everything with the machine it ran on.
/// </summary>
internal sealed class Report(string outputFolder, MachineInfo machine, string command)
{
    // A number that is not finite (a division gone wrong) is written as "NaN" rather than losing the run's results.
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly List<(string Scenario, List<ResultRow> Rows, List<(string File, SvgChart Chart)> Charts)> _scenarios = [];

    public IEnumerable<ResultRow> Rows => _scenarios.SelectMany(s => s.Rows);

    /// <summary>Records a finished scenario, prints its table and writes its files.</summary>
    public void Add(string scenario, List<ResultRow> rows, List<(string File, SvgChart Chart)> charts)
    {
        SetRatios(rows);
        _scenarios.Add((scenario, rows, charts));
        Directory.CreateDirectory(outputFolder);
        var table = Table(rows);
        Console.WriteLine();
        Console.WriteLine($"## {scenario}");
        Console.WriteLine(table);
        File.WriteAllText(Path.Combine(outputFolder, $"{scenario}.md"), $"## {scenario}\n\n{table}\n{ChartLinks(charts)}");
        File.WriteAllText(Path.Combine(outputFolder, $"{scenario}.json"), JsonSerializer.Serialize(rows, Json));
        foreach (var (file, chart) in charts)
        {
            File.WriteAllText(Path.Combine(outputFolder, file), chart.Render());
        }
    }

    /// <summary>Writes results.md and results.json: every scenario of the run, the machine and the command.</summary>
    public void WriteSummary(TimeSpan elapsed)
    {
        Directory.CreateDirectory(outputFolder);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Hub.Bench results, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"`{command}`, {elapsed.TotalMinutes:F1} minutes.");
        md.AppendLine();
        md.AppendLine(machine.ToMarkdown());
        md.AppendLine("CollabHub's settings in the bench (environment variables; everything else at its default): "
            + string.Join(", ", Systems.Deployment.Settings.Select(s => $"`{s.Key}={s.Value}`")) + ".");
        md.AppendLine();
        foreach (var (scenario, rows, charts) in _scenarios)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"## {scenario}");
            md.AppendLine();
            md.AppendLine(Table(rows));
            md.AppendLine(ChartLinks(charts));
        }
        File.WriteAllText(Path.Combine(outputFolder, "results.md"), md.ToString());
        File.WriteAllText(Path.Combine(outputFolder, "results.json"), JsonSerializer.Serialize(new
        {
            command,
            date = DateTime.UtcNow,
            elapsedSeconds = elapsed.TotalSeconds,
            machine,
            scenarios = _scenarios.Select(s => new { name = s.Scenario, rows = s.Rows }),
        }, Json));
    }

    private static string ChartLinks(List<(string File, SvgChart Chart)> charts) =>
        string.Concat(charts.Select(c => $"![{c.Chart.Title}]({c.File})\n\n"));

    /// <summary>Each row's throughput over CollabHub's (the first CollabHub row) in the same case.</summary>
    private static void SetRatios(List<ResultRow> rows)
    {
        foreach (var group in rows.GroupBy(r => r.Case))
        {
            var baseline = group.FirstOrDefault(r => r.System.StartsWith("CollabHub", StringComparison.Ordinal))?.Throughput;
            foreach (var row in group)
            {
                row.RatioToCollabHub = baseline is > 0 && row.Throughput is { } t ? t / baseline : null;
            }
        }
    }

    public static string Table(List<ResultRow> rows)
    {
        var extras = rows.SelectMany(r => r.Extra.Select(e => e.Key)).Distinct().ToList();
        var header = new List<string> { "case", "system", "throughput", "× CollabHub", "p50 ms", "p95 ms", "p99 ms", "server CPU s", "peak MB", "driver CPU %" };
        header.AddRange(extras);
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", header) + " |");
        text.AppendLine("|" + string.Concat(header.Select((_, i) => i < 2 ? "---|" : "---:|")));
        foreach (var row in rows)
        {
            var cells = new List<string>
            {
                row.Case,
                row.System,
                row.Throughput is { } t ? $"{Number(t)} {row.Unit}" : "—",
                row.RatioToCollabHub is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : "—",
                Ms(row.P50Ms),
                Ms(row.P95Ms),
                Ms(row.P99Ms),
                row.Resources?.ServerCpuSeconds.ToString("0.0", CultureInfo.InvariantCulture) ?? "—",
                row.Resources?.PeakMemoryMb.ToString("0", CultureInfo.InvariantCulture) ?? "—",
                row.Resources?.DriverCpuPercent.ToString("0", CultureInfo.InvariantCulture) ?? "—",
            };
            cells.AddRange(extras.Select(key => row.Extra.FirstOrDefault(e => e.Key == key).Value ?? ""));
            text.AppendLine("| " + string.Join(" | ", cells) + " |");
        }
        return text.ToString();
    }

    public static string Number(double value) => value switch
    {
        >= 100 => value.ToString("#,0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.00", CultureInfo.InvariantCulture),
    };

    private static string Ms(double? ms) => ms switch
    {
        null => "—",
        >= 100 => ms.Value.ToString("#,0", CultureInfo.InvariantCulture),
        >= 10 => ms.Value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => ms.Value.ToString("0.00", CultureInfo.InvariantCulture),
    };
}
