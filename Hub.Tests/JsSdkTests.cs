using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>
/// The JS SDK (wwwroot/js/collab-client.js) under node with the real <c>@microsoft/signalr</c> client, against a
/// real server: Hub.Tests/js/sdk-tests.mjs (node:test; its TCP proxy, tcp-proxy.mjs, cuts connections and drops
/// chosen messages). Its packages come from Hub.Tests/js/package-lock.json (npm ci).
/// </summary>
public sealed class JsSdkTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(180);

    private static string JsFolder => Path.Combine(RepoPaths.Root, "Hub.Tests", "js");

    [Fact]
    public async Task The_JS_SDK_keeps_replicas_gapless_and_writes_exactly_once_across_disconnects()
    {
        var hubUrl = fixture.Server.HubUrl.ToString();
        var result = await RunNodeAsync(hubUrl, "--test-reporter=spec", "sdk-tests.mjs", hubUrl);

        var output = $"--- stdout ---\n{result.StdOut}\n--- stderr ---\n{result.StdErr}";
        Assert.True(result.ExitCode == 0, $"node sdk-tests.mjs exited with {result.ExitCode}.\n{FailedTests(result.StdOut)}{output}");
        Assert.Contains("ℹ fail 0", result.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("ℹ pass 0", result.StdOut, StringComparison.Ordinal);
    }

    /// <summary>The spec reporter marks failed tests with ✖; list them first so the failure reads at a glance.</summary>
    private static string FailedTests(string stdout)
    {
        var failed = stdout.Split('\n').Where(line => line.TrimStart().StartsWith('✖')).Select(line => line.Trim()).Distinct().ToList();
        return failed.Count == 0 ? "" : $"Failed:\n  {string.Join("\n  ", failed)}\n";
    }

    private static async Task<ProcessResult> RunNodeAsync(string hubUrl, params string[] arguments)
    {
        const string howToFix = "Run ./test.sh at the repository root (it installs node and runs `npm ci`), or do it by hand: "
            + "`apt-get install -y nodejs npm`, then `npm ci` in Hub.Tests/js.";
        var signalRPackage = Path.Combine(JsFolder, "node_modules", "@microsoft", "signalr", "package.json");
        Assert.True(File.Exists(signalRPackage), $"The @microsoft/signalr npm package is not installed in {JsFolder} ({signalRPackage} is missing). {howToFix}");
        var sdk = Path.Combine(RepoPaths.Root, "wwwroot", "js", "collab-client.js");
        Assert.True(File.Exists(sdk), $"The JS SDK is missing: {sdk}");

        return await NodeScript.RunAsync(JsFolder, arguments, ScriptTimeout, howToFix,
            new Dictionary<string, string> { ["COLLAB_HUB_URL"] = hubUrl, ["NO_COLOR"] = "1" });
    }
}
