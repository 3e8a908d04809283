using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// A real nginx as a child process (<c>daemon off</c>) on a free loopback port, running the load-balancer example
/// operators copy: <c>docs/nginx.conf.example</c>, with its instance addresses, listen port and log path replaced.
/// Everything nginx writes (pid, logs, temp files) goes to a temp folder, deleted on dispose. Besides the example's
/// own access log (no query strings), a second one records each request's URL with the instance that served it.
/// </summary>
internal sealed class NginxProcess : IAsyncDisposable
{
    public const string NotInstalledMessage = "nginx is not installed: apt-get install -y nginx (./test.sh does this when run as root)";

    /// <summary>What the example says, and must keep saying, so that the test can point it at its own ports.</summary>
    public const string ExampleInstanceA = "127.0.0.1:5001";
    public const string ExampleInstanceB = "127.0.0.1:5002";
    public const string ExampleListen = "listen 8080;";
    public const string ExampleAccessLog = "access_log /var/log/nginx/collabhub-access.log collabhub;";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly TempDirectory _directory;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private NginxProcess(TempDirectory directory, int port)
    {
        _directory = directory;
        Port = port;
        BaseUrl = new Uri($"http://127.0.0.1:{port}");
    }

    /// <summary>The nginx binary; fails the test with how to install it when there is none.</summary>
    public static string Executable => FindExecutable() ?? throw new Xunit.Sdk.XunitException(NotInstalledMessage);

    public static string ExamplePath => Path.Combine(RepoPaths.Root, "docs", "nginx.conf.example");

    public int Port { get; }

    public Uri BaseUrl { get; }

    public Uri HubUrl => new(BaseUrl, "/hubs/collab");

    /// <summary>nginx's own output (its error log goes to stderr).</summary>
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

    /// <summary>
    /// The test's access log so far: one line per finished request, <c>"GET /path?query HTTP/1.1" status
    /// upstream=host:port</c>. WebSockets are logged when they close.
    /// </summary>
    public string AccessLog => ReadLog("access-test.log");

    /// <summary>The example's own access log (its <c>collabhub</c> format) so far.</summary>
    public string ExampleAccessLogText => ReadLog("access.log");

    /// <summary>Everything worth showing when a test through this nginx fails.</summary>
    public string Diagnostics => $"--- nginx access log ---\n{AccessLog}--- nginx output ---\n{Output}";

    private string ReadLog(string name)
    {
        try
        {
            using var stream = new FileStream(_directory.File(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException ex)
        {
            return $"(no {name}: {ex.Message})";
        }
    }

    /// <summary>
    /// Starts nginx in front of two instances (base URLs such as <c>http://127.0.0.1:41234</c>) with the example's
    /// configuration, trying another port if the one it picked is taken meanwhile.
    /// </summary>
    public static async Task<NginxProcess> StartAsync(Uri instanceA, Uri instanceB)
    {
        var executable = Executable;
        var example = await File.ReadAllTextAsync(ExamplePath);
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var port = FreePort();
            var nginx = new NginxProcess(new TempDirectory(), port);
            try
            {
                await nginx.LaunchAsync(executable, Configure(example, instanceA, instanceB, port, nginx._directory.Path));
                return nginx;
            }
            catch (PortTakenException ex)
            {
                last = ex;
                await nginx.DisposeAsync();
            }
            catch
            {
                await nginx.DisposeAsync();
                throw;
            }
        }
        throw new InvalidOperationException("nginx could not bind a free port in 5 tries", last);
    }

    /// <summary>
    /// The example with the test's addresses. Fails if the example no longer has the addresses it is documented
    /// with, rather than silently testing something else.
    /// </summary>
    public static string Configure(string example, Uri instanceA, Uri instanceB, int port, string logFolder)
    {
        Expect(example, ExampleInstanceA, 2);
        Expect(example, ExampleInstanceB, 2);
        Expect(example, ExampleListen, 1);
        Expect(example, ExampleAccessLog, 1);
        return example
            .Replace(ExampleInstanceA, $"{instanceA.Host}:{instanceA.Port}", StringComparison.Ordinal)
            .Replace(ExampleInstanceB, $"{instanceB.Host}:{instanceB.Port}", StringComparison.Ordinal)
            .Replace(ExampleListen, $"listen 127.0.0.1:{port};", StringComparison.Ordinal)
            .Replace(ExampleAccessLog,
                $"access_log {logFolder}/access.log collabhub;\n    access_log {logFolder}/access-test.log collabhub_test;", StringComparison.Ordinal);
    }

    private static void Expect(string example, string text, int count)
    {
        var found = 0;
        for (var at = example.IndexOf(text, StringComparison.Ordinal); at >= 0; at = example.IndexOf(text, at + text.Length, StringComparison.Ordinal))
        {
            found++;
        }
        if (found != count)
        {
            throw new InvalidOperationException(
                $"{ExamplePath} should contain '{text}' {count} time(s) (the test replaces it with its own address), but it does {found} time(s).");
        }
    }

    /// <summary>Stops nginx at once (SIGTERM: fast shutdown, open WebSockets are cut), killing it if it lingers.</summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }
        if (SendSignal(process.Id, SigTerm) == 0)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
                return;
            }
            catch (OperationCanceledException)
            {
                // Killed below.
            }
        }
        process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        _directory.Dispose();
    }

    private async Task LaunchAsync(string executable, string site)
    {
        var dir = _directory.Path;
        // As root, nginx's workers run as an unprivileged user: they must be able to write their temp folders.
        foreach (var temp in new[] { "client_body", "proxy", "fastcgi", "uwsgi", "scgi" })
        {
            Directory.CreateDirectory(_directory.File(temp));
            if (!OperatingSystem.IsWindows())
            {
                // chmod, not the create mode: that one is cut by the umask.
                File.SetUnixFileMode(_directory.File(temp), (UnixFileMode)0b111_111_111);
            }
        }
        await File.WriteAllTextAsync(_directory.File("collabhub.conf"), site);
        // The example is a conf.d file: it goes inside http { }, as in nginx's packaged nginx.conf.
        await File.WriteAllTextAsync(_directory.File("nginx.conf"), $$"""
            worker_processes 1;
            pid {{dir}}/nginx.pid;
            error_log stderr warn;
            events {
                worker_connections 1024;
            }
            http {
                log_format collabhub_test '$remote_addr "$request" $status upstream=$upstream_addr';
                access_log {{dir}}/access-other.log collabhub_test;
                client_body_temp_path {{dir}}/client_body;
                proxy_temp_path {{dir}}/proxy;
                fastcgi_temp_path {{dir}}/fastcgi;
                uwsgi_temp_path {{dir}}/uwsgi;
                scgi_temp_path {{dir}}/scgi;
                include {{dir}}/collabhub.conf;
            }
            """);

        var start = new ProcessStartInfo(executable)
        {
            ArgumentList = { "-p", dir + "/", "-c", _directory.File("nginx.conf"), "-e", "stderr", "-g", "daemon off;" },
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
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
                if (output.Contains("Address already in use", StringComparison.Ordinal))
                {
                    throw new PortTakenException($"nginx could not bind port {Port}:\n{output}");
                }
                throw new InvalidOperationException($"nginx exited with code {process.ExitCode} before listening:\n{output}\n--- configuration ---\n{site}");
            }
            if (await AcceptsAsync())
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"nginx did not listen on port {Port} within {StartTimeout}:\n{Output}");
            }
            await Task.Delay(20);
        }
    }

    private async Task<bool> AcceptsAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
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

    // Debian puts nginx in /usr/sbin, which is not on every user's PATH.
    private static string? FindExecutable()
    {
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/nginx/sbin"]);
        return folders.Select(folder => Path.Combine(folder, "nginx")).FirstOrDefault(File.Exists);
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private sealed class PortTakenException(string message) : Exception(message);
}
