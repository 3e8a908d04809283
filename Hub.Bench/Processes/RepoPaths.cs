namespace CollabHub.Bench.Processes;

/// <summary>Where the repository is, found from the bench's own folder (the bench runs from its build output).</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string SocketIoServer => Path.Combine(Root, "Hub.Bench", "socketio");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CollabHub.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"CollabHub.sln not found above {AppContext.BaseDirectory}: run the bench from the repository.");
    }
}
