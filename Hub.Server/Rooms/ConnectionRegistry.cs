using System.Collections.Concurrent;

namespace CollabHub.Server.Rooms;

/// <summary>This instance's connections by user: for per-user limits and for applying access changes at once.</summary>
internal sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, ConnectionRooms[]> _byUser = new(StringComparer.Ordinal);

    /// <summary>Adds a connection unless its user already has <paramref name="maxPerUser"/> here.</summary>
    public bool TryAdd(ConnectionRooms connection, int maxPerUser)
    {
        while (true)
        {
            if (_byUser.TryGetValue(connection.UserId, out var current))
            {
                if (current.Length >= maxPerUser)
                {
                    return false;
                }
                if (_byUser.TryUpdate(connection.UserId, [.. current, connection], current))
                {
                    return true;
                }
            }
            else if (_byUser.TryAdd(connection.UserId, [connection]))
            {
                return true;
            }
        }
    }

    public void Remove(ConnectionRooms connection)
    {
        while (_byUser.TryGetValue(connection.UserId, out var current))
        {
            var remaining = Array.FindAll(current, c => c != connection);
            var done = remaining.Length == 0
                ? _byUser.TryRemove(new KeyValuePair<string, ConnectionRooms[]>(connection.UserId, current))
                : _byUser.TryUpdate(connection.UserId, remaining, current);
            if (done)
            {
                return;
            }
        }
    }

    public ConnectionRooms[] OfUser(string userId) => _byUser.TryGetValue(userId, out var connections) ? connections : [];
}
