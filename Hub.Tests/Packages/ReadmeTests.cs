using System.Text.RegularExpressions;
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

    [GeneratedRegex(@"\]\((docs/[^)#]+)")]
    private static partial Regex LinkRegex();
}
