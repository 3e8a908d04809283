using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Packages;

/// <summary>
/// The .NET SDK as a team that adopts it gets it: the NuGet packages `dotnet pack` makes, and a plain console app
/// (<c>Microsoft.NET.Sdk</c>, no <c>FrameworkReference</c> to ASP.NET Core) that takes them from a folder feed and runs
/// README.md's C# sample against a real server.
/// </summary>
public sealed partial class NuGetPackageTests(NuGetFeedFixture feed, ServerFixture fixture) : IClassFixture<NuGetFeedFixture>, IClassFixture<ServerFixture>
{
    /// <summary>The kind of custom debug information that holds a document's source inside a portable PDB.</summary>
    private static readonly Guid EmbeddedSource = new("0E8A571B-6926-466E-B4AD-8AB04611F5FE");

    private const string HowToFix = "The .NET SDK must be on PATH as `dotnet`.";

    [Fact]
    public void The_feed_holds_the_client_package_at_the_version_it_was_packed_with()
    {
        var names = feed.Packages.Select(Path.GetFileName).ToList();
        Assert.Contains($"CollabHub.Client.{feed.PackageVersion}.nupkg", names);
    }

    [Fact]
    public void Every_package_has_a_readme_a_licence_expression_its_repository_XML_docs_and_symbols_with_sources_in_a_deterministic_assembly()
    {
        Assert.NotEmpty(feed.Packages);
        foreach (var package in feed.Packages)
        {
            var name = Path.GetFileName(package);
            using var zip = ZipFile.OpenRead(package);
            var metadata = Nuspec(zip).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string? Meta(string element) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == element)?.Value;

            var readme = Meta("readme");
            Assert.True(readme is { Length: > 0 } && zip.GetEntry(readme) is { Length: > 0 }, $"{name} has no README (<readme> names {readme ?? "nothing"}).");
            var license = metadata.Elements().SingleOrDefault(e => e.Name.LocalName == "license");
            Assert.True(license?.Attribute("type")?.Value == "expression" && license.Value.Length > 0, $"{name} has no licence expression.");
            var repository = metadata.Elements().SingleOrDefault(e => e.Name.LocalName == "repository")?.Attribute("url")?.Value;
            Assert.True(Uri.TryCreate(repository, UriKind.Absolute, out _), $"{name} names no repository URL.");
            Assert.False(string.IsNullOrWhiteSpace(Meta("description")), $"{name} has no description.");

            var assemblies = zip.Entries.Where(e => e.FullName.StartsWith("lib/net10.0/", StringComparison.Ordinal) && e.FullName.EndsWith(".dll", StringComparison.Ordinal)).ToList();
            Assert.True(assemblies.Count > 0, $"{name} has no lib/net10.0/ assembly.");
            foreach (var assembly in assemblies)
            {
                var docs = Path.ChangeExtension(assembly.FullName, ".xml");
                Assert.True(zip.GetEntry(docs) is { Length: > 0 }, $"{name} has no XML docs ({docs}) beside {assembly.FullName}.");
                AssertSymbolsAndSourcesAreEmbedded($"{name}: {assembly.FullName}", ReadAll(assembly));
            }
        }
    }

    [Fact]
    public async Task A_console_app_restored_from_the_feed_alone_runs_the_README_sample_without_the_ASP_NET_Core_framework()
    {
        // CollabHub.Client came from the feed as a package: no project of this repository is among its inputs.
        using var assets = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(feed.ConsumerFolder, "obj", "project.assets.json")));
        var libraries = assets.RootElement.GetProperty("libraries").EnumerateObject().ToList();
        Assert.Contains(libraries, library => library.Name == $"CollabHub.Client/{feed.PackageVersion}");
        Assert.All(libraries, library => Assert.Equal("package", library.Value.GetProperty("type").GetString()));

        // It runs on the .NET runtime alone: ASP.NET Core's shared framework is not among its frameworks.
        var runtimeConfig = Path.ChangeExtension(feed.ConsumerDll, ".runtimeconfig.json");
        using var config = JsonDocument.Parse(await File.ReadAllTextAsync(runtimeConfig));
        Assert.Equal(["Microsoft.NETCore.App"], RuntimeFrameworks(config.RootElement));

        var run = await ChildProcess.RunAsync("dotnet", feed.ConsumerFolder, [feed.ConsumerDll, fixture.Server.HubUrl.ToString()], TestClients.Timeout * 2, HowToFix);
        Assert.True(run.ExitCode == 0, $"The console app exited with {run.ExitCode}:\n{run.StdOut}\n{run.StdErr}");
        Assert.Contains("joined demo at seq", run.StdOut, StringComparison.Ordinal);
        var applied = AppliedRegex().Match(run.StdOut);
        Assert.True(applied.Success, $"The console app did not print its write's answer:\n{run.StdOut}");

        // The write came back: another connection reads it from the server, at the seq the app was told.
        await using var reader = await fixture.ConnectAsync("reader");
        var join = await reader.JoinAsync("demo").WaitAsync(TestClients.Timeout);
        var title = Assert.Single(join.Entries, entry => entry.Key == "title");
        Assert.Equal("Planning", title.Value?.GetString());
        Assert.Equal(long.Parse(applied.Groups[1].Value), title.Version);
    }

    private static XDocument Nuspec(ZipArchive zip)
    {
        var entry = zip.Entries.Single(e => !e.FullName.Contains('/') && e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = entry.Open();
        return XDocument.Load(stream);
    }

    private static byte[] ReadAll(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>A debugger needs nothing but the assembly: its portable PDB is inside it, with every source document in the PDB.</summary>
    private static void AssertSymbolsAndSourcesAreEmbedded(string what, byte[] assembly)
    {
        using var pe = new PEReader(new MemoryStream(assembly));
        var debugDirectory = pe.ReadDebugDirectory();
        Assert.True(debugDirectory.Any(e => e.Type == DebugDirectoryEntryType.Reproducible), $"{what} was not built deterministically.");
        var embedded = debugDirectory.Where(e => e.Type == DebugDirectoryEntryType.EmbeddedPortablePdb).ToList();
        Assert.True(embedded.Count == 1, $"{what} has no embedded portable PDB.");

        using var pdb = pe.ReadEmbeddedPortablePdbDebugDirectoryData(embedded[0]);
        var reader = pdb.GetMetadataReader();
        var withSource = reader.CustomDebugInformation
            .Select(reader.GetCustomDebugInformation)
            .Where(info => info.Parent.Kind == HandleKind.Document && reader.GetGuid(info.Kind) == EmbeddedSource)
            .Select(info => (DocumentHandle)info.Parent)
            .ToHashSet();
        var missing = reader.Documents
            .Where(document => !withSource.Contains(document))
            .Select(document => reader.GetString(reader.GetDocument(document).Name))
            .Where(path => path.EndsWith(".cs", StringComparison.Ordinal))
            .ToList();
        Assert.True(reader.Documents.Count > 0 && missing.Count == 0, $"{what}'s PDB does not embed the sources of: {string.Join(", ", missing)}");
    }

    private static List<string> RuntimeFrameworks(JsonElement config)
    {
        var options = config.GetProperty("runtimeOptions");
        if (options.TryGetProperty("frameworks", out var many))
        {
            return [.. many.EnumerateArray().Select(f => f.GetProperty("name").GetString()!)];
        }
        return [options.GetProperty("framework").GetProperty("name").GetString()!];
    }

    [GeneratedRegex(@"applied: True, seq: (\d+)")]
    private static partial Regex AppliedRegex();
}
