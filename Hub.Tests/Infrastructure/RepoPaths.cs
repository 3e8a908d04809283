namespace CollabHub.Tests.Infrastructure;

/// <summary>Where the repository and the built server are, found from the test assembly's folder.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The configuration these tests were built in (Debug or Release), which the other projects share.</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    /// <summary>The Hub.Server build of the same configuration as these tests (Debug or Release).</summary>
    public static string ServerDll
    {
        get
        {
            var path = Path.Combine(Root, "Hub.Server", "bin", Configuration, "net10.0", "Hub.Server.dll");
            return File.Exists(path)
                ? path
                : throw new FileNotFoundException($"Hub.Server is not built at {path}; run `dotnet build` at the repository root first.");
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CollabHub.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"CollabHub.sln not found above {AppContext.BaseDirectory}.");
    }
}
