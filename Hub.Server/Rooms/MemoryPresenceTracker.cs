using System.Collections.Concurrent;
using CollabHub.Protocol;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Presence of this instance's connections, in memory; one small lock per room, never held across an await.
/// The whole presence with the in-process backplane, and this instance's share of it with Redis.
/// </summary>
internal sealed class MemoryPresenceTracker : IPresenceTracker
{
    private readonly ConcurrentDictionary<string, RoomPresence> _rooms = new(StringComparer.Ordinal);

    public ValueTask<(IReadOnlyList<PresenceEntry> Presence, bool Changed)> AddAsync(string roomId, string connectionId, string userId, string name) =>
        ValueTask.FromResult(Add(roomId, connectionId, userId, name));

    public ValueTask<IReadOnlyList<PresenceEntry>?> RemoveAsync(string roomId, string connectionId) =>
        ValueTask.FromResult(Remove(roomId, connectionId));

    public (IReadOnlyList<PresenceEntry> Presence, bool Changed) Add(string roomId, string connectionId, string userId, string name)
    {
        while (true)
        {
            var room = _rooms.GetOrAdd(roomId, static _ => new RoomPresence());
            lock (room)
            {
                // A room emptied concurrently was removed from the map: start again with a live one.
                if (room.Removed)
                {
                    continue;
                }
                var changed = room.Connections.TryAdd(connectionId, new PresenceMember(userId, name));
                return (PresenceList.Of(room.Connections.Values), changed);
            }
        }
    }

    public IReadOnlyList<PresenceEntry>? Remove(string roomId, string connectionId)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            return null;
        }
        lock (room)
        {
            if (!room.Connections.Remove(connectionId))
            {
                return null;
            }
            if (room.Connections.Count == 0)
            {
                room.Removed = true;
                _rooms.TryRemove(new KeyValuePair<string, RoomPresence>(roomId, room));
            }
            return PresenceList.Of(room.Connections.Values);
        }
    }

    /// <summary>Every (room, connection, member) held here, to register again in a shared store that lost them.</summary>
    public List<(string RoomId, string ConnectionId, PresenceMember Member)> Snapshot()
    {
        var all = new List<(string, string, PresenceMember)>();
        foreach (var (roomId, room) in _rooms)
        {
            lock (room)
            {
                foreach (var (connectionId, member) in room.Connections)
                {
                    all.Add((roomId, connectionId, member));
                }
            }
        }
        return all;
    }

    private sealed class RoomPresence
    {
        public Dictionary<string, PresenceMember> Connections { get; } = new(StringComparer.Ordinal);
        public bool Removed { get; set; }
    }
}

internal readonly record struct PresenceMember(string UserId, string Name);

internal static class PresenceList
{
    /// <summary>One entry per user with a count of its connections, sorted by user id.</summary>
    public static PresenceEntry[] Of(IEnumerable<PresenceMember> connections)
    {
        var byUser = new Dictionary<string, PresenceEntry>(StringComparer.Ordinal);
        foreach (var (userId, name) in connections)
        {
            byUser[userId] = byUser.TryGetValue(userId, out var seen)
                ? seen with { Connections = seen.Connections + 1 }
                : new PresenceEntry(userId, name, 1);
        }
        var list = byUser.Values.ToArray();
        Array.Sort(list, static (a, b) => string.CompareOrdinal(a.UserId, b.UserId));
        return list;
    }
}
