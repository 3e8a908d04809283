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

    public event Action<string, string>? Changed;

    public ValueTask AddAsync(string roomId, string connectionId, string userId, string name)
    {
        if (Add(roomId, connectionId, userId, name))
        {
            Changed?.Invoke(roomId, userId);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveAsync(string roomId, string connectionId)
    {
        if (Remove(roomId, connectionId) is { } userId)
        {
            Changed?.Invoke(roomId, userId);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<PresenceListing> ListAsync(string roomId, int max) => ValueTask.FromResult(List(roomId, max));

    public ValueTask<PresenceChanges> ReadAsync(string roomId, IReadOnlyCollection<string> userIds, int maxListed) =>
        ValueTask.FromResult(Read(roomId, userIds, maxListed));

    /// <summary>Counts a connection; true when that changed the room (it was not counted yet).</summary>
    public bool Add(string roomId, string connectionId, string userId, string name)
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
                if (!room.Connections.TryAdd(connectionId, new PresenceMember(userId, name)))
                {
                    return false;
                }
                var connections = room.Users.TryGetValue(userId, out var seen) ? seen.Entry.Connections + 1 : 1;
                room.Users[userId] = new ListedPresence(new PresenceEntry(userId, name, connections));
                return true;
            }
        }
    }

    /// <summary>Uncounts a connection; returns its user, or null when it was not counted.</summary>
    public string? Remove(string roomId, string connectionId)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            return null;
        }
        lock (room)
        {
            if (!room.Connections.Remove(connectionId, out var member))
            {
                return null;
            }
            var seen = room.Users[member.UserId].Entry;
            if (seen.Connections > 1)
            {
                room.Users[member.UserId] = new ListedPresence(seen with { Connections = seen.Connections - 1 });
            }
            else
            {
                room.Users.Remove(member.UserId);
            }
            if (room.Connections.Count == 0)
            {
                room.Removed = true;
                _rooms.TryRemove(new KeyValuePair<string, RoomPresence>(roomId, room));
            }
            return member.UserId;
        }
    }

    public PresenceListing List(string roomId, int max)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            return new PresenceListing([], 0);
        }
        lock (room)
        {
            var users = room.Users.Values;
            var listed = new ListedPresence[Math.Min(max, users.Count)];
            for (var i = 0; i < listed.Length; i++)
            {
                listed[i] = users[i];
            }
            return new PresenceListing(new PresenceList(listed), users.Count);
        }
    }

    public PresenceChanges Read(string roomId, IReadOnlyCollection<string> userIds, int maxListed)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            return new PresenceChanges([], [.. userIds], 0, false);
        }
        lock (room)
        {
            var present = new List<PresenceEntry>(userIds.Count);
            var gone = new List<string>();
            foreach (var userId in userIds)
            {
                if (room.Users.TryGetValue(userId, out var user))
                {
                    present.Add(user.Entry);
                }
                else
                {
                    gone.Add(userId);
                }
            }
            var wasCounted = room.Counted;
            room.Counted = room.Users.Count > maxListed;
            return new PresenceChanges([.. present], [.. gone], room.Users.Count, wasCounted && !room.Counted);
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

        /// <summary>
        /// One entry per user, in user id order, in one array: listing the first <c>MaxListed</c> for a join is a copy of
        /// them under the lock (a tree took ~100 µs to walk a thousand, and every join into a full room waited on it);
        /// a user arriving or leaving moves the entries after it, 16 bytes each (a few µs at ten thousand users).
        /// </summary>
        public SortedList<string, ListedPresence> Users { get; } = new(StringComparer.Ordinal);

        /// <summary>Whether the last delta read found more users than are listed.</summary>
        public bool Counted { get; set; }

        public bool Removed { get; set; }
    }
}

internal readonly record struct PresenceMember(string UserId, string Name);
