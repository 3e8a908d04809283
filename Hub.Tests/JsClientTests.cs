using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>
/// The real <c>@microsoft/signalr</c> JS client, under node, against a real server: what a browser app speaks.
/// The script is Hub.Tests/js/join-set-changed.mjs; its packages come from Hub.Tests/js/package-lock.json (npm ci).
/// </summary>
public sealed class JsClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(60);

    private static string JsFolder => Path.Combine(RepoPaths.Root, "Hub.Tests", "js");

    [Fact]
    public async Task The_signalr_JS_client_joins_sets_receives_Changed_with_or_without_negotiation_and_gets_invalid_room_errors()
    {
        var result = await RunNodeAsync("join-set-changed.mjs", fixture.Server.HubUrl.ToString());

        var output = $"--- stdout ---\n{result.StdOut}\n--- stderr ---\n{result.StdErr}";
        Assert.True(result.ExitCode == 0, $"node join-set-changed.mjs exited with {result.ExitCode}.\n{output}");
        var summary = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(summary.StartsWith("{\"ok\":true", StringComparison.Ordinal), $"node join-set-changed.mjs exited with 0 but its last line is not an ok summary.\n{output}");
    }

    private static async Task<ProcessResult> RunNodeAsync(string script, params string[] arguments)
    {
        const string howToFix = "Run ./test.sh at the repository root (it installs node and runs `npm ci`), or do it by hand: "
            + "`apt-get install -y nodejs npm`, then `npm ci` in Hub.Tests/js.";
        var signalRPackage = Path.Combine(JsFolder, "node_modules", "@microsoft", "signalr", "package.json");
        Assert.True(File.Exists(signalRPackage), $"The @microsoft/signalr npm package is not installed in {JsFolder} ({signalRPackage} is missing). {howToFix}");

        return await NodeScript.RunAsync(JsFolder, [script, .. arguments], ScriptTimeout, howToFix);
    }
}
