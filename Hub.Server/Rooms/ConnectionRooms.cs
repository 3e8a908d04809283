using System.Security.Cryptography;
using CollabHub.Protocol;
using CollabHub.Server.Store;

namespace CollabHub.Server.Rooms;

/// <summary>
/// One connection's identity and the rooms it has joined, with its role in each. Membership is per connection and
/// lives only as long as the connection: after a reconnect the client joins again. Hub methods check the role here,
/// in memory, so no message costs a database round trip.
/// </summary>
internal sealed class ConnectionRooms(string connectionId, string userId, string name)
{
    private readonly Dictionary<string, Membership> _rooms = new(StringComparer.Ordinal);

    public string ConnectionId { get; } = connectionId;
    public string UserId { get; } = userId;
    public string Name { get; } = name;

    /// <summary>Keeps the connection's calls in the order it sent them while SignalR runs several at once.</summary>
    public ConnectionCallOrder Calls { get; } = new();

    /// <summary>What others see of this connection in its signals: random, so it can neither address nor resume it.</summary>
    public string Tag { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(9)).Replace('+', '-').Replace('/', '_');

    /// <summary>The connection's role in the room, or null when it has not joined it.</summary>
    public RoomRole? RoleIn(string roomId)
    {
        lock (_rooms)
        {
            return _rooms.TryGetValue(roomId, out var membership) ? membership.Role : null;
        }
    }

    /// <summary>Whether a join of the room would fit: the connection is in it already, or in fewer than <paramref name="maxRooms"/>.</summary>
    public bool CanJoin(string roomId, int maxRooms)
    {
        lock (_rooms)
        {
            return _rooms.ContainsKey(roomId) || _rooms.Count < maxRooms;
        }
    }

    /// <summary>Records a join; false when the connection already has <paramref name="maxRooms"/> other rooms.</summary>
    public bool TryAdd(string roomId, RoomRole role, int maxRooms, out bool alreadyIn)
    {
        lock (_rooms)
        {
            alreadyIn = _rooms.ContainsKey(roomId);
            if (!alreadyIn && _rooms.Count >= maxRooms)
            {
                return false;
            }
            _rooms[roomId] = new Membership(role, null);
            return true;
        }
    }

    /// <summary>Changes the role in a joined room (a grant from elsewhere); false when the connection is not in it.</summary>
    public bool SetRole(string roomId, RoomRole role)
    {
        lock (_rooms)
        {
            if (!_rooms.TryGetValue(roomId, out var membership))
            {
                return false;
            }
            _rooms[roomId] = membership with { Role = role };
            return true;
        }
    }

    public bool Remove(string roomId)
    {
        lock (_rooms)
        {
            return _rooms.Remove(roomId);
        }
    }

    public string[] RemoveAll()
    {
        lock (_rooms)
        {
            var rooms = _rooms.Keys.ToArray();
            _rooms.Clear();
            return rooms;
        }
    }

    /// <summary>
    /// Remembers where a paged full snapshot stopped, so that the Sync continuing it is not mistaken for a stale
    /// client below the purge horizon (which would restart the snapshot for ever).
    /// </summary>
    public void SetSnapshotCursor(string roomId, SnapshotCursor? cursor)
    {
        lock (_rooms)
        {
            if (_rooms.TryGetValue(roomId, out var membership))
            {
                _rooms[roomId] = membership with { Cursor = cursor };
            }
        }
    }

    /// <summary>The seq of the snapshot that a Sync from <paramref name="position"/> continues, if it continues one.</summary>
    public long? SnapshotContinuedAt(string roomId, long position)
    {
        lock (_rooms)
        {
            return _rooms.TryGetValue(roomId, out var membership) && membership.Cursor?.Position == position
                ? membership.Cursor.SnapshotSeq
                : null;
        }
    }

    private sealed record Membership(RoomRole Role, SnapshotCursor? Cursor);
}

/// <summary>Where a paged full snapshot stopped (<see cref="Position"/>) and the room's seq when it was taken.</summary>
internal sealed record SnapshotCursor(long Position, long SnapshotSeq);
