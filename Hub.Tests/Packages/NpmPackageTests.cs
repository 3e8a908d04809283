using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Packages;

/// <summary>
/// The JS SDK as a web app gets it: the npm package `npm pack wwwroot/js` makes (@collabhub/client), installed into a
/// TypeScript app that compiles against its types in strict mode and runs under node against a real server; and
/// README.md's JS sample, run as written in that app.
/// </summary>
public sealed class NpmPackageTests(NpmPackageFixture package, ServerFixture fixture) : IClassFixture<NpmPackageFixture>, IClassFixture<ServerFixture>
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    private const string HowToFix = "node must be on PATH (./test.sh installs it).";

    [Fact]
    public void The_tarball_is_an_ES_module_package_with_its_types_and_README_and_a_peer_dependency_on_SignalR_10()
    {
        var files = TarballFiles();
        using var manifest = JsonDocument.Parse(files["package.json"]);
        var root = manifest.RootElement;
        Assert.Equal("@collabhub/client", root.GetProperty("name").GetString());
        Assert.Equal("module", root.GetProperty("type").GetString());
        Assert.StartsWith("^10", root.GetProperty("peerDependencies").GetProperty("@microsoft/signalr").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(root.GetProperty("license").GetString()));
        Assert.True(files.ContainsKey("README.md"), "The package has no README.md.");

        var main = root.GetProperty("exports").GetProperty(".");
        var types = main.GetProperty("types").GetString()!;
        Assert.Equal(types, root.GetProperty("types").GetString());
        Assert.True(files.ContainsKey(Relative(types)), $"The package's types, {types}, are not in it.");
        Assert.True(files.ContainsKey(Relative(main.GetProperty("default").GetString()!)), "The module `exports` names is not in the package.");
        Assert.DoesNotContain(files.Keys, name => name.StartsWith("node_modules/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_server_serves_the_packed_modules_at_js_for_the_board()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.BaseUrl, Timeout = TestClients.Timeout };
        var modules = TarballFiles().Where(file => file.Key.EndsWith(".js", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(modules);
        foreach (var (name, packed) in modules)
        {
            var served = await http.GetByteArrayAsync($"/js/{name}");
            Assert.True(packed.AsSpan().SequenceEqual(served), $"/js/{name} differs from the packed {name}.");
        }
    }

    [Fact]
    public async Task A_strict_TypeScript_app_compiles_against_the_package_types_then_connects_joins_writes_and_stops_under_node()
    {
        Assert.True(package.Compile.ExitCode == 0, $"tsc (strict) failed on Hub.Tests/npm-consumer/app.ts:\n{package.Compile.StdOut}\n{package.Compile.StdErr}");

        var run = await RunNodeAsync([Path.Combine("dist", "app.js"), fixture.Server.HubUrl.ToString(), $"ts-{Guid.NewGuid():N}"]);
        Assert.Contains("wrote title at seq", run.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_README_JS_sample_runs_as_written_against_the_installed_package_and_exits()
    {
        var sample = ReadmeSamples.Program("js", JsonSerializer.Serialize(fixture.Server.HubUrl.ToString()));
        await File.WriteAllTextAsync(Path.Combine(package.AppFolder, "readme-sample.mjs"), sample);

        var run = await RunNodeAsync(["readme-sample.mjs"]);
        Assert.Contains("applied: true", run.StdOut, StringComparison.Ordinal);

        // The write came back: another connection reads it from the server.
        await using var reader = await fixture.ConnectAsync("reader");
        var join = await reader.JoinAsync("demo").WaitAsync(TestClients.Timeout);
        var title = Assert.Single(join.Entries, entry => entry.Key == "title");
        Assert.Equal("Planning", title.Value?.GetProperty("text").GetString());
    }

    /// <summary>Runs a script of the app to its end: it must exit by itself, with 0, within <see cref="RunTimeout"/>.</summary>
    private async Task<ProcessResult> RunNodeAsync(string[] arguments)
    {
        var run = await NodeScript.RunAsync(package.AppFolder, arguments, RunTimeout, HowToFix, new Dictionary<string, string> { ["NO_COLOR"] = "1" });
        Assert.True(run.ExitCode == 0, $"node {string.Join(' ', arguments)} exited with {run.ExitCode}:\n{run.StdOut}\n{run.StdErr}");
        return run;
    }

    /// <summary>The tarball's files by their path inside the package (npm packs them under package/).</summary>
    private Dictionary<string, byte[]> TarballFiles()
    {
        using var gzip = new GZipStream(File.OpenRead(package.Tarball), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        var files = new Dictionary<string, byte[]>();
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.DataStream is null)
            {
                continue;
            }
            using var content = new MemoryStream();
            entry.DataStream.CopyTo(content);
            files[entry.Name["package/".Length..]] = content.ToArray();
        }
        return files;
    }

    private static string Relative(string packagePath) => packagePath.StartsWith("./", StringComparison.Ordinal) ? packagePath[2..] : packagePath;
}
