using System.Runtime.InteropServices;

namespace CollabHub.Bench.Processes;

/// <summary>
/// A throw-away PostgreSQL cluster (initdb, trust auth) in a temp folder, started with pg_ctl on a free loopback port,
/// stopped and deleted on dispose. As root (PostgreSQL refuses to run as root) its tools run as the OS user postgres.
/// Unlike the test servers it keeps fsync on: the bench compares durable commits.
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    private readonly string _binaries;
    private readonly string? _runAs;

    private PostgresServer(string folder, string binaries, string? runAs, int port)
    {
        Folder = folder;
        _binaries = binaries;
        _runAs = runAs;
        Port = port;
    }

    public string Folder { get; }

    public int Port { get; }

    private string DataDirectory => Path.Combine(Folder, "data");

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Maximum Pool Size=100";

    /// <summary>The postmaster's process id (its backends are its children), for metering.</summary>
    public int ProcessId => int.Parse(File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).First());

    public static async Task<PostgresServer> StartAsync()
    {
        var binaries = (Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql") : [])
            .Select(dir => Path.Combine(dir, "bin"))
            .Where(bin => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl")))
            .OrderByDescending(bin => bin, StringComparer.Ordinal)
            .FirstOrDefault()
            ?? throw new InvalidOperationException("PostgreSQL is not installed: apt-get install -y postgresql (./test.sh does this when run as root)");
        var runAs = geteuid() == 0 ? "postgres" : null;
        if (runAs is not null)
        {
            try
            {
                await ChildProcess.RunAsync(ChildProcess.Command("id", "-u", runAs), CommandTimeout);
            }
            catch (InvalidOperationException)
            {
                await ChildProcess.RunAsync(ChildProcess.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", runAs), CommandTimeout);
            }
        }
        var folder = Path.Combine(Path.GetTempPath(), "collabhub-bench-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        if (runAs is not null)
        {
            await ChildProcess.RunAsync(ChildProcess.Command("chown", runAs, folder), CommandTimeout);
        }
        var server = new PostgresServer(folder, binaries, runAs, Loopback.FreePort());
        try
        {
            await server.RunToolAsync("initdb", "-D", server.DataDirectory, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync");
            var options = $"-p {server.Port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200";
            await server.RunToolAsync("pg_ctl", "-D", server.DataDirectory, "-o", options, "-l", Path.Combine(folder, "server.log"), "-w", "-t", "60", "start");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await RunToolAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop");
            }
        }
        finally
        {
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private Task RunToolAsync(string tool, params string[] arguments)
    {
        var path = Path.Combine(_binaries, tool);
        var start = _runAs is null ? ChildProcess.Command(path, arguments) : ChildProcess.Command("runuser", ["-u", _runAs, "--", path, .. arguments]);
        start.WorkingDirectory = Folder;
        start.Environment["LC_ALL"] = "C";
        return ChildProcess.RunAsync(start, CommandTimeout);
    }

    [DllImport("libc")]
    private static extern uint geteuid();
}
