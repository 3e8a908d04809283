using System.Security;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Packages;

/// <summary>
/// Once per test class: every packable project of the solution packed into a temporary folder feed, and a console app
/// that takes CollabHub.Client from that feed (a PackageReference, no project reference) restored and built. The app's
/// Program.cs is README.md's C# sample as written. Packages carry a version no one publishes, and restore into a
/// package folder of their own, so a package of an earlier run cannot stand in for this one; the SignalR client and the
/// rest come from the machine's own NuGet sources and package folder.
/// </summary>
public sealed class NuGetFeedFixture : IAsyncLifetime
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    private const string HowToFix = "The .NET SDK must be on PATH as `dotnet` (the one that builds this repository), and the solution built "
        + "(`dotnet build CollabHub.sln -c Release`): the feed is packed from the build output (`dotnet pack --no-build`).";

    private readonly TempDirectory _folder = new();

    /// <summary>The version every package of this run carries.</summary>
    public string PackageVersion { get; } = $"0.0.0-feedtest.{Guid.NewGuid():N}";

    public string Feed => Path.Combine(_folder.Path, "feed");

    public string ConsumerFolder => Path.Combine(_folder.Path, "consumer");

    /// <summary>The built console app.</summary>
    public string ConsumerDll => Path.Combine(ConsumerFolder, "bin", RepoPaths.Configuration, "net10.0", "Consumer.dll");

    public IReadOnlyList<string> Packages => Directory.GetFiles(Feed, "*.nupkg");

    public async Task InitializeAsync()
    {
        var pack = await ChildProcess.RunAsync("dotnet", RepoPaths.Root,
            ["pack", "CollabHub.sln", "-c", RepoPaths.Configuration, "--no-build", "-nologo", "-o", Feed,
             $"-p:PackageVersion={PackageVersion}", $"-p:NuspecOutputPath={Path.Combine(_folder.Path, "nuspec")}/"],
            CommandTimeout, HowToFix);
        Assert.True(pack.ExitCode == 0, $"dotnet pack CollabHub.sln failed:\n{pack.StdOut}\n{pack.StdErr}");

        Directory.CreateDirectory(ConsumerFolder);
        await File.WriteAllTextAsync(Path.Combine(ConsumerFolder, "NuGet.config"), NuGetConfig());
        await File.WriteAllTextAsync(Path.Combine(ConsumerFolder, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="CollabHub.Client" Version="{PackageVersion}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(ConsumerFolder, "Program.cs"), ReadmeSamples.Program("csharp", "args[0]"));

        var build = await ChildProcess.RunAsync("dotnet", ConsumerFolder, ["build", "-c", RepoPaths.Configuration, "-nologo", "-v:q"],
            CommandTimeout, HowToFix, new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(_folder.Path, "packages") });
        Assert.True(build.ExitCode == 0, $"dotnet build of the console app that uses the packages failed:\n{build.StdOut}\n{build.StdErr}");
    }

    /// <summary>
    /// The feed beside the machine's own package sources (no &lt;clear /&gt;: the SignalR client restores from wherever
    /// this machine restores it), and the machine's package folder as a read-only fallback, so nothing is downloaded twice.
    /// </summary>
    private string NuGetConfig()
    {
        var machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="collabhub-test-feed" value="{SecurityElement.Escape(Feed)}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="machine" value="{SecurityElement.Escape(machinePackages)}" />
              </fallbackPackageFolders>
            </configuration>
            """;
    }

    public Task DisposeAsync()
    {
        _folder.Dispose();
        return Task.CompletedTask;
    }
}
