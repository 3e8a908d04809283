namespace CollabHub.Server.Backplane;

/// <summary>
/// The Redis channel names of one hub. Every name starts with <c>CollabHub:RedisPrefix</c> and the hub's name, so
/// several deployments (and several hubs) can share one Redis.
/// </summary>
internal sealed class BackplaneChannels(string prefix, string hubName)
{
    private readonly string _root = $"{prefix}:{hubName}";

    /// <summary>Messages for every connection (<c>Clients.All</c>, <c>AllExcept</c>).</summary>
    public string All => $"{_root}:all";

    /// <summary>Group membership commands for connections that may live on another instance.</summary>
    public string GroupCommands => $"{_root}:internal:groups";

    /// <summary>Acknowledgements of group commands, one channel per instance.</summary>
    public string Acks(string instanceId) => $"{_root}:internal:ack:{instanceId}";

    public string Connection(string connectionId) => $"{_root}:connection:{connectionId}";

    public string Group(string groupName) => $"{_root}:group:{groupName}";

    public string User(string userId) => $"{_root}:user:{userId}";
}
