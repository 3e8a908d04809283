using CollabHub.Bench.Processes;

namespace CollabHub.Bench.Systems;

/// <summary>
/// What the systems under test are started from, prepared once per run: Hub.Server published (from the build the
/// bench's own build made), the bench's own assembly (it hosts the bare hub), the Socket.IO server after <c>npm ci</c>.
/// </summary>
internal sealed class BenchEnvironment : IDisposable
{
    private BenchEnvironment(string workFolder, string serverDll)
    {
        WorkFolder = workFolder;
        ServerDll = serverDll;
    }

    /// <summary>A temp folder for this run (published server, databases), deleted at the end.</summary>
    public string WorkFolder { get; }

    public string ServerDll { get; }

    public static string BenchDll => typeof(BenchEnvironment).Assembly.Location;

    public static async Task<BenchEnvironment> PrepareAsync(Action<string> progress)
    {
        var work = Path.Combine(Path.GetTempPath(), "collabhub-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        // bin/<Configuration>/net10.0/: publish Hub.Server of the same configuration, built before the bench.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var publish = Path.Combine(work, "hub-server");
        progress($"publishing Hub.Server ({configuration}) to {publish}");
        await ChildProcess.RunAsync(
            ChildProcess.Command("dotnet", "publish", Path.Combine(RepoPaths.Root, "Hub.Server", "Hub.Server.csproj"), "-c", configuration, "--no-build", "-o", publish, "--nologo", "-v", "q"),
            TimeSpan.FromMinutes(3));
        await RestoreSocketIoAsync(progress);
        return new BenchEnvironment(work, Path.Combine(publish, "Hub.Server.dll"));
    }

    /// <summary><c>npm ci</c> in Hub.Bench/socketio/ when its node_modules is missing or older than the lock file.</summary>
    private static async Task RestoreSocketIoAsync(Action<string> progress)
    {
        var folder = RepoPaths.SocketIoServer;
        var modules = Path.Combine(folder, "node_modules");
        if (Directory.Exists(modules) && Directory.GetLastWriteTimeUtc(modules) >= File.GetLastWriteTimeUtc(Path.Combine(folder, "package-lock.json")))
        {
            return;
        }
        progress("npm ci in Hub.Bench/socketio");
        var start = ChildProcess.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error");
        start.WorkingDirectory = folder;
        try
        {
            await ChildProcess.RunAsync(start, TimeSpan.FromMinutes(5));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("The Socket.IO server needs node and npm: apt-get install -y nodejs npm", ex);
        }
        Directory.SetLastWriteTimeUtc(modules, DateTime.UtcNow);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(WorkFolder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
