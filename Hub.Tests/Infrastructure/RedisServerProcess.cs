using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace CollabHub.Tests.Infrastructure;

/// <summary>How to start a test redis-server: credentials, ACL users, TLS, anything else.</summary>
internal sealed record RedisServerSettings
{
    /// <summary><c>--requirepass</c>: the default user's password.</summary>
    public string? RequirePass { get; init; }

    /// <summary><c>--user</c> ACL rules, one user each, e.g. <c>alice on &gt;secret ~* &amp;* +@all</c>.</summary>
    public IReadOnlyList<string> AclUsers { get; init; } = [];

    /// <summary>PEM files for a TLS-only server (<c>--port 0 --tls-port P</c>, clients not asked for certificates).</summary>
    public (string CertificateFile, string KeyFile)? Tls { get; init; }

    /// <summary>More arguments, appended as they are.</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];
}

/// <summary>
/// A real redis-server as a child process on a free loopback port, nothing persisted. It can be stopped, killed and
/// restarted on the same port, so tests can take Redis away and bring it back. Its output is kept for failures.
/// </summary>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    public const string NotInstalledMessage = "redis-server is not installed: apt-get install -y redis-server (./test.sh does this when run as root)";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly RedisServerSettings _settings;
    private readonly string _executable;
    private readonly TempDirectory _directory = new();
    private readonly StringBuilder _output = new();
    private Process? _process;

    private RedisServerProcess(string executable, RedisServerSettings settings, int port)
    {
        _executable = executable;
        _settings = settings;
        Port = port;
    }

    public int Port { get; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>A connection string for this server, with its password and TLS if it has them (append more with ',').</summary>
    public string ConnectionString =>
        $"127.0.0.1:{Port}" + (_settings.RequirePass is { } pass ? $",password={pass}" : "") + (_settings.Tls is not null ? ",ssl=true,sslHost=localhost" : "");

    /// <summary>This server's connection string parsed by StackExchange.Redis, with <paramref name="extra"/> options appended.</summary>
    public StackExchange.Redis.ConfigurationOptions Configuration(string extra = "") =>
        StackExchange.Redis.ConfigurationOptions.Parse(extra.Length == 0 ? ConnectionString : $"{ConnectionString},{extra}");

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

    /// <summary>Starts a server on a free port, trying again on another port if redis cannot bind the one it was given.</summary>
    public static async Task<RedisServerProcess> StartAsync(RedisServerSettings? settings = null)
    {
        var executable = FindExecutable() ?? throw new Xunit.Sdk.XunitException(NotInstalledMessage);
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var server = new RedisServerProcess(executable, settings ?? new RedisServerSettings(), FreePort());
            try
            {
                await server.LaunchAsync();
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
        throw new InvalidOperationException("redis-server could not bind a free port in 5 tries", last);
    }

    /// <summary>Stops the server the way an operator would (SIGTERM; nothing is saved), waiting for it to exit.</summary>
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
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
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
            process.Kill();
            process.WaitForExit(10_000);
        }
    }

    /// <summary>Stops the server if it runs, and starts it again on the same port (retrying while the port is still held).</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await LaunchAsync();
                return;
            }
            catch (PortTakenException) when (attempt < 20)
            {
                await Task.Delay(250);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        _directory.Dispose();
    }

    private async Task LaunchAsync()
    {
        var start = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory.Path,
        };
        var args = start.ArgumentList;
        if (_settings.Tls is { } tls)
        {
            foreach (var arg in new[] { "--port", "0", "--tls-port", Port.ToString(), "--tls-cert-file", tls.CertificateFile, "--tls-key-file", tls.KeyFile, "--tls-auth-clients", "no" })
            {
                args.Add(arg);
            }
        }
        else
        {
            args.Add("--port");
            args.Add(Port.ToString());
        }
        foreach (var arg in new[] { "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory.Path, "--daemonize", "no" })
        {
            args.Add(arg);
        }
        if (_settings.RequirePass is { } pass)
        {
            args.Add("--requirepass");
            args.Add(pass);
        }
        foreach (var user in _settings.AclUsers)
        {
            // One argument per rule: redis-server would quote a single argument with spaces into one user name.
            args.Add("--user");
            foreach (var rule in user.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                args.Add(rule);
            }
        }
        foreach (var arg in _settings.ExtraArgs)
        {
            args.Add(arg);
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process?.Dispose();
        _process = process;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync(); // lets the output readers finish
                var output = Output;
                if (output.Contains("Address already in use", StringComparison.Ordinal) || output.Contains("Could not create server", StringComparison.Ordinal))
                {
                    throw new PortTakenException($"redis-server could not bind port {Port}:\n{output}");
                }
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} before answering PING:\n{output}");
            }
            if (await AnswersPingAsync())
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                Kill();
                throw new TimeoutException($"redis-server did not answer PING on port {Port} within {StartTimeout}:\n{Output}");
            }
            await Task.Delay(20);
        }
    }

    // Any reply will do (+PONG, or -NOAUTH when a password is required): the server is up and speaking RESP.
    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (_settings.Tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, timeout.Token);
                stream = ssl;
            }
            await using (stream)
            {
                await stream.WriteAsync("*1\r\n$4\r\nPING\r\n"u8.ToArray(), timeout.Token);
                var buffer = new byte[64];
                var read = await stream.ReadAsync(buffer, timeout.Token);
                return read > 0 && buffer[0] is (byte)'+' or (byte)'-';
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            return false;
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
    }

    private static int FreePort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    private static string? FindExecutable()
    {
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"]);
        return folders.Select(folder => Path.Combine(folder, "redis-server")).FirstOrDefault(File.Exists);
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private sealed class PortTakenException(string message) : Exception(message);
}
