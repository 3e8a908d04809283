using System.Text.RegularExpressions;

namespace CollabHub.Bench.Processes;

/// <summary>A redis-server on a free loopback port, nothing persisted, stopped on dispose.</summary>
internal sealed partial class RedisServer : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private RedisServer(ChildProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var executable = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server (./test.sh does this when run as root)");
        for (var attempt = 1; ; attempt++)
        {
            var port = Loopback.FreePort();
            try
            {
                var start = ChildProcess.Command(executable, "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no");
                start.WorkingDirectory = Path.GetTempPath();
                var (process, _) = await ChildProcess.StartAsync(start, ReadyRegex());
                return new RedisServer(process, port);
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
                // Most likely another process took the port.
            }
        }
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    [GeneratedRegex("Ready to accept connections")]
    private static partial Regex ReadyRegex();
}
