namespace CollabHub.Server.Backplane;

/// <summary>
/// The Redis channel names of one hub. Each starts with the hub's name; the multiplexer puts <c>CollabHub:RedisPrefix</c>
/// and a colon before every channel, so several deployments (and several hubs) can share one Redis.
/// </summary>
internal sealed class BackplaneChannels(string hubName)
{
    /// <summary>Messages for every connection (<c>Clients.All</c>, <c>AllExcept</c>).</summary>
    public string All => $"{hubName}:all";

    /// <summary>Group membership commands for connections that may live on another instance.</summary>
    public string GroupCommands => $"{hubName}:internal:groups";

    /// <summary>Acknowledgements of group commands, one channel per instance.</summary>
    public string Acks(string instanceId) => $"{hubName}:internal:ack:{instanceId}";

    public string Connection(string connectionId) => $"{hubName}:connection:{connectionId}";

    public string Group(string groupName) => $"{hubName}:group:{groupName}";

    public string User(string userId) => $"{hubName}:user:{userId}";
}
