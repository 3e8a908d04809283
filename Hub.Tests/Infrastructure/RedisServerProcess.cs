using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

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
internal sealed class RedisServerProcess : ServerProcess
{
    public const string NotInstalledMessage = "redis-server is not installed: apt-get install -y redis-server (./test.sh does this when run as root)";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly RedisServerSettings _settings;
    private readonly string _executable;
    private readonly TempDirectory _directory = new();

    private RedisServerProcess(string executable, RedisServerSettings settings, int port)
    {
        _executable = executable;
        _settings = settings;
        Port = port;
    }

    public int Port { get; }

    /// <summary>A connection string for this server, with its password and TLS if it has them (append more with ',').</summary>
    public string ConnectionString =>
        $"127.0.0.1:{Port}" + (_settings.RequirePass is { } pass ? $",password={pass}" : "") + (_settings.Tls is not null ? ",ssl=true,sslHost=localhost" : "");

    /// <summary>This server's connection string parsed by StackExchange.Redis, with <paramref name="extra"/> options appended.</summary>
    public StackExchange.Redis.ConfigurationOptions Configuration(string extra = "") =>
        StackExchange.Redis.ConfigurationOptions.Parse(extra.Length == 0 ? ConnectionString : $"{ConnectionString},{extra}");

    /// <summary>Starts a server on a free port, trying again on another port if redis cannot bind the one it was given.</summary>
    public static async Task<RedisServerProcess> StartAsync(RedisServerSettings? settings = null)
    {
        var executable = FindExecutable("redis-server") ?? throw new Xunit.Sdk.XunitException(NotInstalledMessage);
        return await StartOnFreePortAsync(
            port => new RedisServerProcess(executable, settings ?? new RedisServerSettings(), port), server => server.LaunchAsync(), "redis-server");
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

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _directory.Dispose();
    }

    private async Task LaunchAsync()
    {
        var start = new ProcessStartInfo(_executable) { WorkingDirectory = _directory.Path };
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

        await LaunchUntilReadyAsync(start, AnswersPingAsync, StartTimeout, $"redis-server on port {Port}", ["Address already in use", "Could not create server"]);
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
}
