using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// The plumbing of a test server run as a child process: a free loopback port, start with its output kept (across
/// restarts, for failure messages), wait until it is ready, stop by signal (killed if it lingers), kill as a crash would.
/// </summary>
internal abstract class ServerProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private Process? _process;

    /// <summary>The running process, or the last one; null before the first start.</summary>
    protected Process? Current => _process;

    public bool IsRunning => _process is { HasExited: false };

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

    /// <summary>How long <see cref="StopAsync"/> waits after SIGTERM before it kills.</summary>
    protected virtual TimeSpan StopTimeout => TimeSpan.FromSeconds(10);

    /// <summary>Starts <paramref name="start"/> (its output redirected into <see cref="Output"/>) in place of the last process.</summary>
    protected Process Launch(ProcessStartInfo start)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process?.Dispose();
        _process = process;
        OnLaunching(process);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// Launches <paramref name="start"/> and polls <paramref name="ready"/> until it says yes. A process that exits first
    /// fails with its output (<see cref="PortTakenException"/> when the output says <paramref name="portTaken"/>); one
    /// not ready within <paramref name="timeout"/> is killed.
    /// </summary>
    protected async Task LaunchUntilReadyAsync(ProcessStartInfo start, Func<Task<bool>> ready, TimeSpan timeout, string name, string[] portTaken)
    {
        var process = Launch(start);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync(); // lets the output readers finish
                var output = Output;
                if (portTaken.Any(text => output.Contains(text, StringComparison.Ordinal)))
                {
                    throw new PortTakenException($"{name} could not bind its port:\n{output}");
                }
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode} before it was ready:\n{output}");
            }
            if (await ready())
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                Kill();
                throw new TimeoutException($"{name} was not ready within {timeout}:\n{Output}");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Called for each process before it starts, e.g. to watch its exit.</summary>
    protected virtual void OnLaunching(Process process)
    {
    }

    /// <summary>Called for each line of output, after it is kept.</summary>
    protected virtual void OnLine(string line)
    {
    }

    /// <summary>Stops the server the way an operator would (SIGTERM), waiting for it to exit; killed if it lingers.</summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }
        if (SendSignal(process.Id, SigTerm) != 0)
        {
            Kill();
            return;
        }
        using var timeout = new CancellationTokenSource(StopTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    /// <summary>Ends the server at once (SIGKILL), as a crash would: connections drop without a goodbye.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
    }

    /// <summary>
    /// Makes a server for a free port and launches it, on another port when that one was taken meanwhile (5 tries).
    /// A server that fails is disposed.
    /// </summary>
    protected static async Task<T> StartOnFreePortAsync<T>(Func<int, T> create, Func<T, Task> launch, string name) where T : ServerProcess
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var server = create(FreePort());
            try
            {
                await launch(server);
                return server;
            }
            catch (PortTakenException ex)
            {
                last = ex;
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
        throw new InvalidOperationException($"{name} could not bind a free port in 5 tries", last);
    }

    /// <summary>A loopback port free now (another process may take it before the server binds it: retry on <see cref="PortTakenException"/>).</summary>
    public static int FreePort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    /// <summary>Whether something accepts TCP connections on the loopback <paramref name="port"/>.</summary>
    protected static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The program <paramref name="name"/> on PATH or in the usual system folders (Debian keeps some in /usr/sbin).</summary>
    protected static string? FindExecutable(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/nginx/sbin"])
            .Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
        OnLine(line);
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>The server could not bind the port it was given: start it again on another one.</summary>
    protected sealed class PortTakenException(string message) : Exception(message);
}
