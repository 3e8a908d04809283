using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Backplane;

/// <summary>
/// This instance's connections, their groups and users, and delivery to them through the <see cref="ConnectionOutbox"/>.
/// Both lifetime managers route through it: the in-process one alone, the Redis one beside its publishes. The hooks
/// run when a group or user gets its first local member and after it loses its last (the Redis manager subscribes
/// and unsubscribes their channels there); they run in order per group or user (see <see cref="LocalMembers"/>).
/// </summary>
internal sealed class LocalConnections
{
    private readonly HubConnectionStore _connections = new();
    private readonly ConcurrentDictionary<string, HashSet<string>> _groupsOfConnection = new(StringComparer.Ordinal);
    private readonly LocalMembers _groups;
    private readonly LocalMembers _users;
    private readonly ConnectionOutbox _outbox;

    /// <param name="outbox">Writes to the connections.</param>
    /// <param name="groups">Members per group, with the hooks to run on a group's first and last member.</param>
    /// <param name="users">Connections per user, likewise.</param>
    public LocalConnections(ConnectionOutbox outbox, LocalMembers groups, LocalMembers users)
    {
        _outbox = outbox;
        _groups = groups;
        _users = users;
    }

    public HubConnectionContext? this[string connectionId] => _connections[connectionId];

    public async Task AddAsync(HubConnectionContext connection)
    {
        ConnectionOutbox.Attach(connection);
        _connections.Add(connection);
        if (connection.UserIdentifier is { } user)
        {
            await _users.AddAsync(user, connection);
        }
    }

    /// <summary>Removes a closed connection from everything it was in.</summary>
    public async Task RemoveAsync(HubConnectionContext connection)
    {
        _connections.Remove(connection);
        if (_groupsOfConnection.TryRemove(connection.ConnectionId, out var groups))
        {
            string[] names;
            lock (groups)
            {
                names = [.. groups];
            }
            foreach (var group in names)
            {
                await _groups.RemoveAsync(group, connection);
            }
        }
        if (connection.UserIdentifier is { } user)
        {
            await _users.RemoveAsync(user, connection);
        }
    }

    public Task AddToGroupAsync(HubConnectionContext connection, string groupName)
    {
        var groups = _groupsOfConnection.GetOrAdd(connection.ConnectionId, static _ => new HashSet<string>(StringComparer.Ordinal));
        lock (groups)
        {
            groups.Add(groupName);
        }
        return _groups.AddAsync(groupName, connection);
    }

    public Task RemoveFromGroupAsync(HubConnectionContext connection, string groupName)
    {
        if (_groupsOfConnection.TryGetValue(connection.ConnectionId, out var groups))
        {
            lock (groups)
            {
                groups.Remove(groupName);
            }
        }
        return _groups.RemoveAsync(groupName, connection);
    }

    public void SendAll(SerializedHubMessage message, IEnumerable<string>? excluded)
    {
        foreach (var connection in _connections)
        {
            Send(connection, message, excluded);
        }
    }

    public void SendGroup(string groupName, SerializedHubMessage message, IEnumerable<string>? excluded)
    {
        foreach (var connection in _groups.Get(groupName))
        {
            Send(connection, message, excluded);
        }
    }

    public void SendUser(string userId, SerializedHubMessage message)
    {
        foreach (var connection in _users.Get(userId))
        {
            _outbox.Write(connection, message);
        }
    }

    public void Send(HubConnectionContext connection, SerializedHubMessage message, IEnumerable<string>? excluded = null)
    {
        // Enumerable.Contains uses the collection's own lookup (a HashSet's, for backplane messages).
        if (excluded is null || !excluded.Contains(connection.ConnectionId))
        {
            _outbox.Write(connection, message);
        }
    }
}
