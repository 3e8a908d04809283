using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests;

/// <summary>
/// The web client (wwwroot/) in real headless Chromium against a real server: Hub.Tests/browser/board.test.mjs drives
/// two people in one room (notes, chat, presence, cursors, drag and keyboard moves, conflicts, a real network loss and
/// the sync after it) and a phone, with playwright-core (Hub.Tests/browser/package-lock.json, `npm ci`) and Debian's
/// Chromium (/usr/bin/chromium). Screenshots go to TestResults/browser/ at the repository root.
/// </summary>
public sealed class BrowserTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(240);

    private const string HowToFix = "Run ./test.sh at the repository root (it installs what is missing and runs `npm ci`), or by hand: "
        + "`apt-get install -y nodejs npm chromium`, then `npm ci` in Hub.Tests/browser.";

    private static string BrowserFolder => Path.Combine(RepoPaths.Root, "Hub.Tests", "browser");

    private static string OutputFolder => Path.Combine(RepoPaths.Root, "TestResults", "browser");

    private static string ChromiumPath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    [Fact]
    public async Task Browser_board_two_people_share_notes_chat_presence_and_cursors_and_converge_after_one_goes_offline()
    {
        var playwright = Path.Combine(BrowserFolder, "node_modules", "playwright-core", "package.json");
        Assert.True(File.Exists(playwright), $"The playwright-core npm package is not installed in {BrowserFolder} ({playwright} is missing). {HowToFix}");
        Assert.True(File.Exists(ChromiumPath), $"Chromium is not installed at {ChromiumPath}; the browser tests need it. {HowToFix}");
        var signalR = Path.Combine(Path.GetDirectoryName(RepoPaths.ServerDll)!, "wwwroot", "lib", "signalr", "signalr.min.js");
        Assert.True(File.Exists(signalR), $"The server's build has no {signalR}: Hub.Server's build restores it from npm (web/package.json); build it again with node and npm installed.");

        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"));

        var result = await RunNodeAsync("board.test.mjs", server.BaseUrl.ToString(), OutputFolder);

        output.WriteLine($"screenshots: {OutputFolder}");
        output.WriteLine(result.StdOut);
        var report = $"--- stdout ---\n{result.StdOut}\n--- stderr ---\n{result.StdErr}\n--- server ---\n{Tail(server.Output, 60)}";
        Assert.True(result.ExitCode == 0, $"node board.test.mjs exited with {result.ExitCode}.\n{report}");
        var summary = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(summary.StartsWith("{\"ok\":true", StringComparison.Ordinal), $"node board.test.mjs exited with 0 but its last line is not an ok summary.\n{report}");
        foreach (var screenshot in new[] { "board-desktop.png", "board-phone.png" })
        {
            var file = Path.Combine(OutputFolder, screenshot);
            Assert.True(File.Exists(file) && new FileInfo(file).Length > 10_000, $"The screenshot {file} is missing or empty.");
        }
    }

    /// <summary>
    /// docs/operations.md's two-instance recipe as written (one signing key for both, nginx running
    /// docs/nginx.conf.example): every page load of the board connects, with its dev token and its hub connection from
    /// the same instance. Before, each instance signed with its own random key and nginx sent the token request and
    /// the negotiate to different instances: about one load in four stayed on "Connecting…" with 401s.
    /// </summary>
    [Fact]
    public async Task Browser_board_through_nginx_and_two_instances_connects_on_every_page_load()
    {
        var playwright = Path.Combine(BrowserFolder, "node_modules", "playwright-core", "package.json");
        Assert.True(File.Exists(playwright), $"The playwright-core npm package is not installed in {BrowserFolder} ({playwright} is missing). {HowToFix}");
        Assert.True(File.Exists(ChromiumPath), $"Chromium is not installed at {ChromiumPath}; the browser tests need it. {HowToFix}");
        _ = NginxProcess.Executable;

        await using var cluster = new HubCluster();
        var redis = await cluster.StartRedisAsync();
        var settings = new Dictionary<string, string>
        {
            ["CollabHub:Redis"] = redis.ConnectionString,
            ["CollabHub:Auth:SigningKey"] = "base64:" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48)),
        };
        var a = await cluster.StartServerAsync(settings);
        var b = await cluster.StartServerAsync(settings);
        var nginx = cluster.Track(await NginxProcess.StartAsync(a.BaseUrl, b.BaseUrl));

        const int loads = 6;
        var result = await RunNodeAsync("cluster.test.mjs", nginx.BaseUrl.ToString(), loads.ToString(System.Globalization.CultureInfo.InvariantCulture));

        output.WriteLine(result.StdOut);
        var report = $"--- stdout ---\n{result.StdOut}\n--- stderr ---\n{result.StdErr}\n{nginx.Diagnostics}";
        Assert.True(result.ExitCode == 0, $"node cluster.test.mjs exited with {result.ExitCode}.\n{report}");
        // The token and the hub connection of each load came from the same instance (one client address here).
        var routed = nginx.AccessLog.Split('\n')
            .Where(line => line.Contains("/auth/dev-token", StringComparison.Ordinal) || line.Contains("/hubs/collab/negotiate", StringComparison.Ordinal))
            .Select(line => line[(line.LastIndexOf("upstream=", StringComparison.Ordinal) + "upstream=".Length)..].Trim())
            .ToList();
        Assert.True(routed.Count >= 2 * loads && routed.Distinct().Count() == 1,
            $"POST /auth/dev-token and the negotiates should all reach one instance:\n{report}");
        Assert.DoesNotContain(" 401 ", nginx.AccessLog, StringComparison.Ordinal);
    }

    private static string Tail(string text, int lines)
    {
        var all = text.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    private static async Task<ProcessResult> RunNodeAsync(string script, params string[] arguments)
    {
        return await NodeScript.RunAsync(BrowserFolder, [script, .. arguments], ScriptTimeout, HowToFix,
            new Dictionary<string, string> { ["CHROMIUM_PATH"] = ChromiumPath });
    }
}
