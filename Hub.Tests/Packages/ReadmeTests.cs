using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Packages;

/// <summary>What README.md promises a newcomer (its samples run in <see cref="NuGetPackageTests"/> and <see cref="NpmPackageTests"/>).</summary>
public sealed partial class ReadmeTests
{
    [Fact]
    public void The_documentation_list_links_every_page_in_docs()
    {
        var readme = ReadmeSamples.Readme;
        var start = readme.IndexOf("\n## Documentation\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no ## Documentation section.");
        var next = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = next < 0 ? readme[start..] : readme[start..next];
        var linked = LinkRegex().Matches(section).Select(m => m.Groups[1].Value).ToHashSet();

        var pages = Directory.GetFiles(Path.Combine(RepoPaths.Root, "docs"), "*.md").Select(path => $"docs/{Path.GetFileName(path)}").Order().ToList();
        Assert.NotEmpty(pages);
        var unlisted = pages.Except(linked).ToList();
        Assert.True(unlisted.Count == 0, $"README.md's documentation list does not name {string.Join(", ", unlisted)}.");
        var broken = linked.Where(link => !File.Exists(Path.Combine(RepoPaths.Root, link))).ToList();
        Assert.True(broken.Count == 0, $"README.md's documentation list links pages that do not exist: {string.Join(", ", broken)}.");
    }

    [Fact]
    public void Both_SDK_packages_carry_one_version_and_the_README_names_their_files_at_it()
    {
        var props = XDocument.Load(Path.Combine(RepoPaths.Root, "Directory.Build.props"));
        var nugetVersion = props.Descendants("Version").Single().Value;
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "wwwroot", "js", "package.json")));
        var npmVersion = manifest.RootElement.GetProperty("version").GetString();
        Assert.Equal(nugetVersion, npmVersion);

        var readme = ReadmeSamples.Readme;
        Assert.Contains($"CollabHub.Client.{nugetVersion}.nupkg", readme, StringComparison.Ordinal);
        Assert.Contains($"collabhub-client-{npmVersion}.tgz", readme, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\]\((docs/[^)#]+)")]
    private static partial Regex LinkRegex();
}
