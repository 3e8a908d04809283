using System.Diagnostics;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// A real nginx as a child process (<c>daemon off</c>) on a free loopback port, running the load-balancer example
/// operators copy: <c>docs/nginx.conf.example</c>, with its instance addresses, listen port and log path replaced.
/// Everything nginx writes (pid, logs, temp files) goes to a temp folder, deleted on dispose. Besides the example's
/// own access log (no query strings), a second one records each request's URL with the instance that served it.
/// </summary>
internal sealed class NginxProcess : ServerProcess
{
    public const string NotInstalledMessage = "nginx is not installed: apt-get install -y nginx (./test.sh does this when run as root)";

    /// <summary>What the example says, and must keep saying, so that the test can point it at its own ports.</summary>
    public const string ExampleInstanceA = "127.0.0.1:5001";
    public const string ExampleInstanceB = "127.0.0.1:5002";
    public const string ExampleListen = "listen 8080;";
    public const string ExampleAccessLog = "access_log /var/log/nginx/collabhub-access.log collabhub;";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly TempDirectory _directory;

    private NginxProcess(TempDirectory directory, int port)
    {
        _directory = directory;
        Port = port;
        BaseUrl = new Uri($"http://127.0.0.1:{port}");
    }

    /// <summary>The nginx binary; fails the test with how to install it when there is none.</summary>
    public static string Executable => FindExecutable("nginx") ?? throw new Xunit.Sdk.XunitException(NotInstalledMessage);

    public static string ExamplePath => Path.Combine(RepoPaths.Root, "docs", "nginx.conf.example");

    public int Port { get; }

    public Uri BaseUrl { get; }

    public Uri HubUrl => new(BaseUrl, "/hubs/collab");

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
        return await StartOnFreePortAsync(port => new NginxProcess(new TempDirectory(), port),
            nginx => nginx.LaunchAsync(executable, Configure(example, instanceA, instanceB, nginx.Port, nginx._directory.Path)), "nginx");
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

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
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
        };
        // SIGTERM on stop: fast shutdown, open WebSockets are cut.
        await LaunchUntilReadyAsync(start, () => AcceptsAsync(Port), StartTimeout, $"nginx on port {Port}", ["Address already in use"]);
    }
}
