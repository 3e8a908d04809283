using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// A real Hub.Server (Kestrel) as a child process on a free loopback port, with settings passed as environment
/// variables. Its output is kept (across restarts), and shown when it fails to start. <see cref="RestartAsync"/>
/// starts it again on the same port.
/// </summary>
internal sealed partial class HubServerProcess : ServerProcess
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ProcessStartInfo _start;
    private TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HubServerProcess(ProcessStartInfo start)
    {
        _start = start;
    }

    public Uri BaseUrl { get; private set; } = null!;

    public Uri HubUrl => new(BaseUrl, "/hubs/collab");

    public int ProcessId => Current!.Id;

    protected override TimeSpan StopTimeout => TimeSpan.FromSeconds(20);

    /// <summary>Starts a server on a SQLite file; <paramref name="settings"/> are configuration keys such as <c>CollabHub:Limits:MaxPageItems</c>.</summary>
    public static async Task<HubServerProcess> StartAsync(string databasePath, IReadOnlyDictionary<string, string>? settings = null, string environment = "Development")
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { RepoPaths.ServerDll, "--urls", "http://127.0.0.1:0" },
            WorkingDirectory = Path.GetDirectoryName(databasePath)!,
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

        var server = new HubServerProcess(start);
        server.Launch(start);
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

    /// <summary>Each process reports its "Now listening" to a fresh <see cref="_listening"/>, and its early exit.</summary>
    protected override void OnLaunching(Process process)
    {
        var listening = _listening;
        process.Exited += (_, _) => _ = ReportEarlyExitAsync(process, listening);
    }

    /// <summary>
    /// Fails the wait for "Now listening" with the process's output once its readers have read it all: Exited can come
    /// before the last lines, and those say why (a start-up check that failed).
    /// </summary>
    private async Task ReportEarlyExitAsync(Process process, TaskCompletionSource<Uri> listening)
    {
        string exitCode;
        try
        {
            await process.WaitForExitAsync();
            exitCode = process.ExitCode.ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            exitCode = "unknown"; // a restart replaced the process meanwhile
        }
        listening.TrySetException(new InvalidOperationException($"Hub.Server exited with code {exitCode} before listening:\n{Output}"));
    }

    /// <summary>
    /// Stops the server (SIGTERM) if it runs, then starts it again with the same settings on the same port, so clients
    /// can reconnect to the URL they had. Retries for a while if the port is not free yet.
    /// </summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        _start.ArgumentList[2] = BaseUrl.GetLeftPart(UriPartial.Authority);
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            _listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            Launch(_start);
            try
            {
                var url = await _listening.Task.WaitAsync(StartTimeout);
                if (url.Port != BaseUrl.Port)
                {
                    throw new InvalidOperationException($"Hub.Server restarted on {url} instead of {BaseUrl}.");
                }
                return;
            }
            catch (InvalidOperationException) when (!IsRunning && DateTime.UtcNow < deadline && Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                await Task.Delay(250);
            }
        }
    }

    protected override void OnLine(string line)
    {
        if (ListeningRegex().Match(line) is { Success: true } match)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningRegex();
}
