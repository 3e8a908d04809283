using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// A real Hub.Server (Kestrel) as a child process on a free loopback port, with settings passed as environment
/// variables. Its output is kept (across restarts), and shown when it fails to start. <see cref="RestartAsync"/>
/// starts it again on the same port.
/// </summary>
internal sealed partial class HubServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private Process _process;
    private readonly StringBuilder _output = new();
    private TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HubServerProcess(Process process)
    {
        _process = process;
    }

    public Uri BaseUrl { get; private set; } = null!;

    public Uri HubUrl => new(BaseUrl, "/hubs/collab");

    public int ProcessId => _process.Id;

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

    /// <summary>Starts a server on a SQLite file; <paramref name="settings"/> are configuration keys such as <c>CollabHub:Limits:MaxPageItems</c>.</summary>
    public static async Task<HubServerProcess> StartAsync(string databasePath, IReadOnlyDictionary<string, string>? settings = null, string environment = "Development")
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { RepoPaths.ServerDll, "--urls", "http://127.0.0.1:0" },
            WorkingDirectory = Path.GetDirectoryName(databasePath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = environment;
        start.Environment["DOTNET_ENVIRONMENT"] = environment;
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        start.Environment["CollabHub__Store__ConnectionString"] = $"Data Source={databasePath}";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var server = new HubServerProcess(new Process { StartInfo = start, EnableRaisingEvents = true });
        server.Launch();
        try
        {
            server.BaseUrl = await server._listening.Task.WaitAsync(StartTimeout);
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new TimeoutException($"Hub.Server did not listen within {StartTimeout}:\n{server.Output}");
        }
        return server;
    }

    /// <summary>Starts <see cref="_process"/>, with a fresh <see cref="_listening"/>.</summary>
    private void Launch()
    {
        var process = _process;
        var listening = _listening;
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => listening.TrySetException(
            new InvalidOperationException($"Hub.Server exited with code {process.ExitCode} before listening:\n{Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>
    /// Stops the server (SIGTERM) if it runs, then starts it again with the same settings on the same port, so clients
    /// can reconnect to the URL they had. Retries for a while if the port is not free yet.
    /// </summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        var start = _process.StartInfo;
        start.ArgumentList[2] = BaseUrl.GetLeftPart(UriPartial.Authority);
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            _process.Dispose();
            _process = new Process { StartInfo = start, EnableRaisingEvents = true };
            _listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            Launch();
            try
            {
                var url = await _listening.Task.WaitAsync(StartTimeout);
                if (url.Port != BaseUrl.Port)
                {
                    throw new InvalidOperationException($"Hub.Server restarted on {url} instead of {BaseUrl}.");
                }
                return;
            }
            catch (InvalidOperationException) when (_process.HasExited && DateTime.UtcNow < deadline && Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                await Task.Delay(250);
            }
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
        if (ListeningRegex().Match(line) is { Success: true } match)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    /// <summary>Stops the server the way an operator would (SIGTERM), waiting for a clean exit.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }
        if (SendSignal(_process.Id, SigTerm) != 0)
        {
            Kill();
            return;
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    /// <summary>Ends the server at once (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningRegex();
}
