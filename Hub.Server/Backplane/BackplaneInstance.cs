namespace CollabHub.Server.Backplane;

/// <summary>This server process's id on the backplane: unique per start, readable in Redis and in logs.</summary>
internal sealed class BackplaneInstance
{
    public string Id { get; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
}
