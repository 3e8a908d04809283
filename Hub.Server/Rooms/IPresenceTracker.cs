using CollabHub.Protocol;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Who is in which room: per room, one entry per user with the number of that user's connections in it, counted
/// over every instance that shares the tracker's store.
/// </summary>
/// <remarks>
/// Add and Remove are idempotent per (room, connection) and atomic per room: the list they return already
/// includes the change and no concurrent change of that room is half applied in it. They do not fail: when the
/// shared store is unreachable, an implementation answers from what this instance knows and heals later.
/// </remarks>
internal interface IPresenceTracker
{
    /// <summary>Counts a connection of a user in a room; returns the room's presence after it, and whether it changed.</summary>
    ValueTask<(IReadOnlyList<PresenceEntry> Presence, bool Changed)> AddAsync(string roomId, string connectionId, string userId, string name);

    /// <summary>Uncounts a connection; returns the room's presence after it, or null if it was not counted.</summary>
    ValueTask<IReadOnlyList<PresenceEntry>?> RemoveAsync(string roomId, string connectionId);
}
