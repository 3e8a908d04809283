using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace CollabHub.Bench.Processes;

/// <summary>
/// A process the bench starts and owns: its output is kept (and shown when it fails), it is ready when a line of its
/// output matches a pattern, and it is stopped with SIGTERM (then SIGKILL) when disposed.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Regex _ready;
    private readonly TaskCompletionSource<Match> _readyMatch = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(ProcessStartInfo start, Regex ready)
    {
        _ready = ready;
        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="start"/> and waits until a line of its output matches <paramref name="ready"/>; returns that match too.</summary>
    public static async Task<(ChildProcess Process, Match Ready)> StartAsync(ProcessStartInfo start, Regex ready)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var child = new ChildProcess(start, ready);
        child.Launch();
        try
        {
            var match = await child._readyMatch.Task.WaitAsync(StartTimeout);
            return (child, match);
        }
        catch (Exception ex)
        {
            await child.DisposeAsync();
            throw new InvalidOperationException($"{start.FileName} {string.Join(' ', start.ArgumentList)} did not become ready: {ex.Message}\n{child.Output}", ex);
        }
    }

    private void Launch()
    {
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Exited += (_, _) => _readyMatch.TrySetException(new InvalidOperationException($"it exited with code {_process.ExitCode}"));
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            // Keep the start and the last part: a server that logs a lot must not grow the bench's memory.
            if (_output.Length > 64 * 1024)
            {
                _output.Remove(16 * 1024, _output.Length - 48 * 1024);
            }
            _output.AppendLine(line);
        }
        if (!_readyMatch.Task.IsCompleted && _ready.Match(line) is { Success: true } match)
        {
            _readyMatch.TrySetResult(match);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited && SendSignal(_process.Id, SigTerm) == 0)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await _process.WaitForExitAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    /// <summary>Runs a command to its end; a non-zero exit throws with what it printed.</summary>
    public static async Task RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{start.FileName} {string.Join(' ', start.ArgumentList)} exited with {process.ExitCode}:\n{await output}\n{await errors}");
        }
    }

    public static ProcessStartInfo Command(string fileName, params IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return start;
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
