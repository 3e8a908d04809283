using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Packages;

/// <summary>
/// Once per test class: the tarball `npm pack wwwroot/js` makes, installed into a fresh copy of the TypeScript app in
/// Hub.Tests/npm-consumer (its own packages, typescript and @microsoft/signalr, from its lock file with `npm ci`; the
/// SDK from the tarball alone), and that app compiled in strict mode.
/// </summary>
public sealed class NpmPackageFixture : IAsyncLifetime
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(4);

    private const string HowToFix = "node and npm must be on PATH (./test.sh installs them: `apt-get install -y nodejs npm`), and npm must reach "
        + "the registry this machine uses (or have typescript and @microsoft/signalr in its cache).";

    private static readonly string[] AppFiles = ["package.json", "package-lock.json", "tsconfig.json", "app.ts"];

    private readonly TempDirectory _folder = new();

    public string AppFolder => Path.Combine(_folder.Path, "app");

    public string Tarball { get; private set; } = "";

    /// <summary>`tsc -p .` in the app: the test of the SDK's types asserts on it, and the run test needs its output.</summary>
    internal ProcessResult Compile { get; private set; } = new(-1, "", "");

    public async Task InitializeAsync()
    {
        var pack = await ChildProcess.RunAsync("npm", _folder.Path,
            ["pack", Path.Combine(RepoPaths.Root, "wwwroot", "js"), "--pack-destination", _folder.Path, "--loglevel=error"], CommandTimeout, HowToFix);
        Assert.True(pack.ExitCode == 0, $"npm pack wwwroot/js failed:\n{pack.StdOut}\n{pack.StdErr}");
        Tarball = Assert.Single(Directory.GetFiles(_folder.Path, "*.tgz"));

        Directory.CreateDirectory(AppFolder);
        foreach (var file in AppFiles)
        {
            File.Copy(Path.Combine(RepoPaths.Root, "Hub.Tests", "npm-consumer", file), Path.Combine(AppFolder, file));
        }
        await NpmAsync("ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error");
        // The SDK is not in the app's lock file (the tarball changes with every edit): installed on top, unsaved.
        await NpmAsync("install", "--no-save", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", Tarball);

        Compile = await ChildProcess.RunAsync("node", AppFolder, [Path.Combine("node_modules", "typescript", "bin", "tsc"), "-p", "."], CommandTimeout, HowToFix);
    }

    private async Task NpmAsync(params string[] arguments)
    {
        var result = await ChildProcess.RunAsync("npm", AppFolder, arguments, CommandTimeout, HowToFix);
        Assert.True(result.ExitCode == 0, $"npm {string.Join(' ', arguments)} failed in the app that uses the package:\n{result.StdOut}\n{result.StdErr}");
    }

    public Task DisposeAsync()
    {
        _folder.Dispose();
        return Task.CompletedTask;
    }
}
