using CollabHub.Protocol;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Who is in which room: per room, one entry per user with the number of that user's connections in it.
/// </summary>
/// <remarks>
/// Add and Remove are idempotent per (room, connection) and atomic per room: the list they return already
/// includes the change and no concurrent change of that room is half applied in it.
/// </remarks>
internal interface IPresenceTracker
{
    /// <summary>Counts a connection of a user in a room; returns the room's presence after it, and whether it changed.</summary>
    (IReadOnlyList<PresenceEntry> Presence, bool Changed) Add(string roomId, string connectionId, string userId, string name);

    /// <summary>Uncounts a connection; returns the room's presence after it, or null if it was not counted.</summary>
    IReadOnlyList<PresenceEntry>? Remove(string roomId, string connectionId);

    IReadOnlyList<PresenceEntry> Get(string roomId);
}
