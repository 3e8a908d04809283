using System.Text.Json;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary>
/// What a team that adopts the .NET SDK does: a plain console project (<c>Microsoft.NET.Sdk</c>, no
/// <c>FrameworkReference</c> to ASP.NET Core) that references Hub.Client and runs the README's .NET example.
/// </summary>
public sealed class ConsumerProjectTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string ReadmeUrl = "\"http://localhost:5000/hubs/collab\"";
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(4);
    private const string HowToFix = "The .NET SDK must be on PATH as `dotnet` (the one that builds this repository).";

    [Fact]
    public async Task A_console_project_without_the_ASP_NET_Core_framework_builds_against_Hub_Client_and_runs_the_README_example()
    {
        using var folder = new TempDirectory();
        var client = Path.Combine(RepoPaths.Root, "Hub.Client", "Hub.Client.csproj");
        await File.WriteAllTextAsync(folder.File("Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{client}" />
              </ItemGroup>
            </Project>
            """);
        // The README's example as it stands, pointed at the test server instead of localhost:5000.
        var example = ReadmeDotNetExample();
        Assert.Contains(ReadmeUrl, example, StringComparison.Ordinal);
        await File.WriteAllTextAsync(folder.File("Program.cs"), example.Replace(ReadmeUrl, "args[0]", StringComparison.Ordinal));

        // Hub.Client is already built with these tests; the consumer's own build must not need to rebuild it.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var build = await ChildProcess.RunAsync("dotnet", folder.Path,
            ["build", "-c", configuration, "-p:BuildProjectReferences=false", "-nologo", "-v:q"], BuildTimeout, HowToFix);
        Assert.True(build.ExitCode == 0, $"dotnet build of the consumer project failed:\n{build.StdOut}\n{build.StdErr}");

        // It runs on the .NET runtime alone: ASP.NET Core's shared framework is not among its frameworks.
        var output = Path.Combine(folder.Path, "bin", configuration, "net10.0");
        using var runtimeConfig = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "Consumer.runtimeconfig.json")));
        var frameworks = RuntimeFrameworks(runtimeConfig.RootElement);
        Assert.Equal(["Microsoft.NETCore.App"], frameworks);

        var run = await ChildProcess.RunAsync("dotnet", folder.Path, [Path.Combine(output, "Consumer.dll"), fixture.Server.HubUrl.ToString()], TestClients.Timeout, HowToFix);
        Assert.True(run.ExitCode == 0, $"The consumer exited with {run.ExitCode}:\n{run.StdOut}\n{run.StdErr}");
        Assert.Contains("joined demo at seq", run.StdOut, StringComparison.Ordinal);
        Assert.Contains("applied: True", run.StdOut, StringComparison.Ordinal);
    }

    private static string ReadmeDotNetExample()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")).ReplaceLineEndings("\n");
        const string fence = "```csharp\n";
        var start = readme.IndexOf(fence, StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no ```csharp block.");
        start += fence.Length;
        var end = readme.IndexOf("\n```", start, StringComparison.Ordinal);
        Assert.True(end >= 0, "README.md's ```csharp block is not closed.");
        return readme[start..end] + "\n";
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
}
