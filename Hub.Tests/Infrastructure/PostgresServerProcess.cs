using System.Diagnostics;
using System.Runtime.InteropServices;
using Npgsql;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// A throw-away PostgreSQL server: a new cluster (initdb, trust auth) in a temp folder, started with pg_ctl on a
/// free loopback port (its socket in the same folder), stopped and deleted on dispose.
/// </summary>
/// <remarks>
/// PostgreSQL refuses to run as root, and CI runs as root: then initdb and pg_ctl run as the <c>postgres</c> OS user
/// (Debian's package makes it; when it is missing, a system user is created), owner of the folder.
/// pg_ctl starts the server in a session of its own, so a test host that dies cannot stop it: every folder records
/// the id of the process that made it, and a later start stops and deletes the servers of processes that are gone.
/// </remarks>
internal sealed class PostgresServerProcess : IAsyncDisposable
{
    public const string NotInstalled = "PostgreSQL is not installed: apt-get install -y postgresql";

    private const string FolderPrefix = "collabhub-pg-";
    private const string OwnerFile = "owner.pid";
    private const string Superuser = "postgres";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    private readonly string _binaries;
    private readonly string? _runAs;
    private int _disposed;

    private PostgresServerProcess(string folder, string binaries, string? runAs, int port)
    {
        Folder = folder;
        _binaries = binaries;
        _runAs = runAs;
        Port = port;
    }

    public string Folder { get; }

    public string DataDirectory => Path.Combine(Folder, "data");

    public int Port { get; }

    /// <summary>A connection string for <paramref name="database"/> on this server, as the superuser.</summary>
    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Superuser,
        Database = database,
        // Tests make a database each; idle connections to finished ones should not pile up.
        ConnectionIdleLifetime = 10,
        ConnectionPruningInterval = 5,
    }.ConnectionString;

    /// <summary>Starts a new server; the binaries are looked for on <paramref name="searchPath"/> (default: PATH), then in <paramref name="debianRoot"/>.</summary>
    public static async Task<PostgresServerProcess> StartAsync(string? searchPath = null, string debianRoot = "/usr/lib/postgresql")
    {
        var binaries = FindBinaries(searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "", debianRoot)
            ?? throw new InvalidOperationException(NotInstalled);
        var runAs = geteuid() == 0 ? await EnsureServiceUserAsync() : null;
        await RemoveAbandonedAsync(binaries, runAs);

        var folder = Path.Combine(Path.GetTempPath(), FolderPrefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, OwnerFile), Environment.ProcessId.ToString());
        if (runAs is not null)
        {
            await RunAsync("chown", [runAs, folder], folder);
        }

        // Each attempt picks a free port; another process may take it between the probe and the start.
        for (var attempt = 1; ; attempt++)
        {
            var server = new PostgresServerProcess(folder, binaries, runAs, ServerProcess.FreePort());
            try
            {
                if (attempt == 1)
                {
                    await server.RunToolAsync("initdb", ["-D", server.DataDirectory, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]);
                }
                var options = $"-p {server.Port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                    + "-c full_page_writes=off -c max_connections=200 -c deadlock_timeout=200ms";
                await server.RunToolAsync("pg_ctl", ["-D", server.DataDirectory, "-o", options, "-l", Path.Combine(folder, "server.log"), "-w", "-t", "60", "start"]);
                return server;
            }
            catch (Exception ex) when (attempt < 3 && ex is not TimeoutException && File.Exists(Path.Combine(server.DataDirectory, "PG_VERSION")))
            {
                // Most likely the port was taken: try another.
            }
            catch (Exception ex)
            {
                var log = server.Log();
                await server.DisposeAsync();
                throw new InvalidOperationException($"PostgreSQL did not start: {ex.Message}\nserver log:\n{log}", ex);
            }
        }
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? name = null)
    {
        name ??= "db_" + Guid.NewGuid().ToString("N")[..16];
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // A fast stop ends the sessions still open; pooled connections to it are never used again.
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "30", "stop"]);
            }
        }
        finally
        {
            DeleteFolder(Folder);
        }
    }

    /// <summary>The server's log, for failure messages.</summary>
    public string Log()
    {
        try
        {
            return File.ReadAllText(Path.Combine(Folder, "server.log"));
        }
        catch (IOException)
        {
            return "";
        }
    }

    private Task RunToolAsync(string tool, IReadOnlyList<string> arguments) => RunToolAsync(_binaries, _runAs, Folder, tool, arguments);

    private static Task RunToolAsync(string binaries, string? runAs, string workingDirectory, string tool, IReadOnlyList<string> arguments)
    {
        var path = Path.Combine(binaries, tool);
        return runAs is null
            ? RunAsync(path, arguments, workingDirectory)
            : RunAsync("runuser", ["-u", runAs, "--", path, .. arguments], workingDirectory);
    }

    /// <summary>Runs a command to its end; a non-zero exit throws with everything it printed.</summary>
    private static async Task RunAsync(string fileName, IReadOnlyList<string> arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(fileName)
        {
            // The user the tools run as must be able to enter the working directory.
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["LC_ALL"] = "C";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{fileName} did not start");
        // pg_ctl's server inherits no pipe of ours (its output goes to the log file), so these reads end with pg_ctl.
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {CommandTimeout}");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await output}\n{await errors}");
        }
    }

    /// <summary>The folder holding initdb, pg_ctl and postgres: from the search path, else Debian's newest N/bin.</summary>
    private static string? FindBinaries(string searchPath, string debianRoot)
    {
        static bool Complete(string folder) =>
            File.Exists(Path.Combine(folder, "initdb")) && File.Exists(Path.Combine(folder, "pg_ctl")) && File.Exists(Path.Combine(folder, "postgres"));

        foreach (var folder in searchPath.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var initdb = Path.Combine(folder, "initdb");
            if (!File.Exists(initdb))
            {
                continue;
            }
            // /usr/local/bin/initdb may be a link into the real folder, where pg_ctl finds postgres.
            var real = new FileInfo(initdb).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? initdb;
            var realFolder = Path.GetDirectoryName(real)!;
            if (Complete(realFolder))
            {
                return realFolder;
            }
            if (Complete(folder))
            {
                return folder;
            }
        }
        if (!Directory.Exists(debianRoot))
        {
            return null;
        }
        return Directory.GetDirectories(debianRoot)
            .Select(version => (Version: int.TryParse(Path.GetFileName(version).Split('.')[0], out var n) ? n : -1, Bin: Path.Combine(version, "bin")))
            .Where(v => v.Version >= 0 && Complete(v.Bin))
            .OrderByDescending(v => v.Version)
            .Select(v => v.Bin)
            .FirstOrDefault();
    }

    /// <summary>As root: the OS user to run PostgreSQL as, <c>postgres</c>, created as a system user if missing.</summary>
    private static async Task<string> EnsureServiceUserAsync()
    {
        if (!await UserExistsAsync(Superuser))
        {
            await RunAsync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", Superuser], Path.GetTempPath());
        }
        return Superuser;
    }

    private static async Task<bool> UserExistsAsync(string user)
    {
        try
        {
            await RunAsync("id", ["-u", user], Path.GetTempPath());
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Stops and deletes the servers of test processes that ended without disposing them.</summary>
    private static async Task RemoveAbandonedAsync(string binaries, string? runAs)
    {
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            var owner = Path.Combine(folder, OwnerFile);
            if (!File.Exists(owner) || !int.TryParse(File.ReadAllText(owner), out var pid) || IsAlive(pid))
            {
                continue;
            }
            var data = Path.Combine(folder, "data");
            try
            {
                if (File.Exists(Path.Combine(data, "postmaster.pid")))
                {
                    await RunToolAsync(binaries, runAs, folder, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"]);
                }
            }
            catch (InvalidOperationException)
            {
                // Not running any more.
            }
            DeleteFolder(folder);
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void DeleteFolder(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>One PostgreSQL server shared by a test class; each test makes its own database.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServerProcess? _server;

    internal PostgresServerProcess Server => _server ?? throw new InvalidOperationException("PostgreSQL has not started.");

    public async Task InitializeAsync() => _server = await PostgresServerProcess.StartAsync();

    /// <summary>A new, empty database; returns its connection string.</summary>
    public Task<string> CreateDatabaseAsync() => Server.CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
