using CollabHub.Protocol;

namespace CollabHub.Client;

/// <summary>Why a key of a room's view changed; see <see cref="EntryChange"/>. The JS SDK's change sources have the same names.</summary>
public enum ChangeOrigin
{
    /// <summary>A <c>Changed</c> event of another write (this client's own, when its event comes before its answer).</summary>
    Remote,

    /// <summary>A <c>Join</c> answer, or one of the <c>Sync</c> pages that complete it.</summary>
    Join,

    /// <summary>A gap fill: a <c>Sync</c> page asked for because an event or a write answer showed a missing position.</summary>
    Sync,

    /// <summary>A write of this client was queued and shows in the view before the server has answered (optimistic apply).</summary>
    Local,

    /// <summary>A write of this client was answered: the view shows the acknowledged value (or the confirmed one).</summary>
    Confirm,

    /// <summary>A write of this client ended without being applied (a conflict or an error); the view went back to the confirmed entry.</summary>
    Rollback,
}

/// <summary>One key of a room's view (<see cref="CollabRoom.Entries"/>) changed.</summary>
/// <param name="Key">The key.</param>
/// <param name="Entry">
/// The key as the view shows it now; null when the key is absent (deleted, never set, or a pending delete). An entry
/// of a write the server has not answered yet has <see cref="Protocol.Entry.Version"/> 0.
/// </param>
/// <param name="Origin">Why it changed.</param>
public sealed record EntryChange(string Key, Entry? Entry, ChangeOrigin Origin);

/// <summary>
/// A run of room positions the confirmed replica applied, in order; see <see cref="CollabRoom.Applied"/>. Consecutive
/// ranges of a room that are not <see cref="Full"/> join up: each <see cref="From"/> is the previous <see cref="To"/> + 1.
/// </summary>
/// <param name="From">The first position applied (1 for a full snapshot).</param>
/// <param name="To">The last position applied: the replica's <see cref="CollabRoom.Seq"/> now (0 for a full snapshot of an empty room).</param>
/// <param name="Full">True when a full snapshot replaced the replica's state (the positions before it are not accounted for).</param>
public sealed record AppliedRange(long From, long To, bool Full);
