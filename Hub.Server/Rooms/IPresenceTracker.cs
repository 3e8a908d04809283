using CollabHub.Protocol;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Who is in which room: per room, one entry per user with the number of that user's connections in it, counted
/// over every instance that shares the tracker's store.
/// </summary>
/// <remarks>
/// Add and Remove are idempotent per (room, connection) and atomic per room, and cost the same whatever the room's
/// size. Each change they make (and each change the tracker makes itself, such as removing a dead instance's
/// connections) is reported once, on this instance, through <see cref="Changed"/>: the instance that made a change
/// is the one that tells the room. Nothing fails: when the shared store is unreachable, an implementation answers
/// from what this instance knows and heals later.
/// </remarks>
internal interface IPresenceTracker
{
    /// <summary>A user's entry in a room changed (arrived, left, or its connection count or name changed): <c>(roomId, userId)</c>.</summary>
    event Action<string, string>? Changed;

    /// <summary>Counts a connection of a user in a room.</summary>
    ValueTask AddAsync(string roomId, string connectionId, string userId, string name);

    /// <summary>Uncounts a connection; nothing when it was not counted.</summary>
    ValueTask RemoveAsync(string roomId, string connectionId);

    /// <summary>The first <paramref name="max"/> entries of a room by user id, and how many users it has.</summary>
    ValueTask<PresenceListing> ListAsync(string roomId, int max);

    /// <summary>
    /// The current entries of the given users (those still present) and the ids of those gone, with the room's user
    /// count; records whether the room is counted (more than <paramref name="maxListed"/> users), and says whether it
    /// just stopped being counted. Costs the number of users asked about, not the room's size.
    /// </summary>
    ValueTask<PresenceChanges> ReadAsync(string roomId, IReadOnlyCollection<string> userIds, int maxListed);
}

/// <summary>The first entries of a room by user id, and its number of users.</summary>
internal sealed record PresenceListing(IReadOnlyList<PresenceEntry> Entries, int Count);

/// <summary>Where some users of a room stand now: see <see cref="IPresenceTracker.ReadAsync"/>.</summary>
internal sealed record PresenceChanges(PresenceEntry[] Present, string[] Gone, int Count, bool Relisted);
