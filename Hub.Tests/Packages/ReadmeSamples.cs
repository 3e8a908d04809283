using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Packages;

/// <summary>
/// The code samples of README.md, as the package tests run them: every fenced block of one language, in order, is one
/// program (a later block goes on from the earlier ones), pointed at a test server instead of localhost:5000.
/// </summary>
internal static class ReadmeSamples
{
    /// <summary>The hub URL the README's samples use, as a string literal in C# and JS alike.</summary>
    public const string HubUrlLiteral = "\"http://localhost:5000/hubs/collab\"";

    public static string Readme => File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")).ReplaceLineEndings("\n");

    /// <summary>The README's ```<paramref name="language"/> blocks, joined in order, with the hub URL replaced by <paramref name="hubUrlExpression"/>.</summary>
    public static string Program(string language, string hubUrlExpression)
    {
        var blocks = Blocks(Readme, language);
        Assert.True(blocks.Count > 0, $"README.md has no ```{language} block.");
        var program = string.Join("\n", blocks);
        Assert.Contains(HubUrlLiteral, program, StringComparison.Ordinal);
        return program.Replace(HubUrlLiteral, hubUrlExpression, StringComparison.Ordinal);
    }

    private static List<string> Blocks(string markdown, string language)
    {
        var fence = $"```{language}\n";
        var blocks = new List<string>();
        for (var start = markdown.IndexOf(fence, StringComparison.Ordinal); start >= 0; start = markdown.IndexOf(fence, start, StringComparison.Ordinal))
        {
            start += fence.Length;
            var end = markdown.IndexOf("\n```", start, StringComparison.Ordinal);
            Assert.True(end >= 0, $"A ```{language} block of README.md is not closed.");
            blocks.Add(markdown[start..end] + "\n");
            start = end + 4;
        }
        return blocks;
    }
}
