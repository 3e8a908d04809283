using System.Collections.Concurrent;
using CollabHub.Protocol;

namespace CollabHub.Server.Rooms;

/// <summary>Presence of this instance's connections, in memory; one small lock per room, never held across an await.</summary>
internal sealed class MemoryPresenceTracker : IPresenceTracker
{
    private readonly ConcurrentDictionary<string, RoomPresence> _rooms = new(StringComparer.Ordinal);

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
                var changed = room.Connections.TryAdd(connectionId, (userId, name));
                return (room.Snapshot(), changed);
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
            return room.Snapshot();
        }
    }

    public IReadOnlyList<PresenceEntry> Get(string roomId)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            return [];
        }
        lock (room)
        {
            return room.Snapshot();
        }
    }

    private sealed class RoomPresence
    {
        public Dictionary<string, (string UserId, string Name)> Connections { get; } = new(StringComparer.Ordinal);
        public bool Removed { get; set; }

        public PresenceEntry[] Snapshot()
        {
            var byUser = new Dictionary<string, PresenceEntry>(StringComparer.Ordinal);
            foreach (var (userId, name) in Connections.Values)
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
}
