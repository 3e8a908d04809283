using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace CollabHub.Bench.Reporting;

/// <summary>The machine a run was taken on, and the versions of what it ran, for the report.</summary>
internal sealed record MachineInfo(int Cores, string Memory, string Os, string DotNet, string Redis, string Node, string Postgres, string LoadAverage)
{
    public static MachineInfo Collect() => new(
        Environment.ProcessorCount,
        ReadLine("/proc/meminfo", "MemTotal:") is { } total && long.TryParse(total.Split(':')[1].Trim().Split(' ')[0], out var kb)
            ? $"{kb / (1024.0 * 1024.0):0.0} GiB"
            : "?",
        (ReadLine("/etc/os-release", "PRETTY_NAME=")?.Split('=')[1].Trim('"') ?? RuntimeInformation.OSDescription) + $", Linux {Environment.OSVersion.Version}",
        RuntimeInformation.FrameworkDescription,
        Run("redis-server", "--version"),
        Run("node", "--version"),
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin", "postgres")).Where(File.Exists).Select(p => Run(p, "--version")).FirstOrDefault() ?? "not installed"
            : "not installed",
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?");

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine("| machine | |");
        md.AppendLine("|---|---|");
        md.AppendLine($"| CPU cores | {Cores} |");
        md.AppendLine($"| memory | {Memory} |");
        md.AppendLine($"| OS | {Os} |");
        md.AppendLine($"| .NET | {DotNet} |");
        md.AppendLine($"| Redis | {Redis} |");
        md.AppendLine($"| node | {Node} |");
        md.AppendLine($"| PostgreSQL | {Postgres} |");
        md.AppendLine($"| load average at the start (1, 5, 15 min) | {LoadAverage} |");
        return md.ToString();
    }

    private static string? ReadLine(string file, string prefix) =>
        File.Exists(file) ? File.ReadLines(file).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) : null;

    private static string Run(string command, string argument)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(command, argument) { RedirectStandardOutput = true, UseShellExecute = false })!;
            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit(5000);
            return output;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "not installed";
        }
    }
}
