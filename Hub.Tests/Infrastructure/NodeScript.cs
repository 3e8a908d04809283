using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace CollabHub.Tests.Infrastructure;

/// <summary>How a child process ended, and what it printed.</summary>
internal sealed record ProcessResult(int ExitCode, string StdOut, string StdErr);

/// <summary>Runs a node script to its end, within a timeout; a missing node or a hang fails the test with its output.</summary>
internal static class NodeScript
{
    public static Task<ProcessResult> RunAsync(
        string folder, IEnumerable<string> arguments, TimeSpan timeout, string howToFix, IReadOnlyDictionary<string, string>? environment = null) =>
        ChildProcess.RunAsync("node", folder, arguments, timeout, howToFix, environment);
}

/// <summary>Runs a program to its end, within a timeout; a missing program or a hang fails the test with its output.</summary>
internal static class ChildProcess
{
    public static async Task<ProcessResult> RunAsync(
        string program, string folder, IEnumerable<string> arguments, TimeSpan timeout, string howToFix, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            Assert.Fail($"`{program}` could not be started ({ex.Message}). {howToFix}");
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Fail($"{program} {string.Join(' ', start.ArgumentList)} did not finish within {timeout.TotalSeconds} s and was killed.\n"
                + $"--- stdout ---\n{await stdout}\n--- stderr ---\n{await stderr}");
        }
        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }
}
