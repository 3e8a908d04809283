using System.Collections;
using CollabHub.Protocol;

namespace CollabHub.Server.Rooms;

/// <summary>
/// A user's entry in a room as <see cref="MemoryPresenceTracker"/> holds it, with its JSON kept once written
/// (<see cref="Hubs.PresenceListConverter"/>): a join into a full room lists up to <c>MaxListed</c> entries, and copying
/// each one's bytes costs a fraction of writing it again for every joiner. A changed entry is a new object, so the
/// bytes are never stale.
/// </summary>
internal sealed class ListedPresence(PresenceEntry entry)
{
    public PresenceEntry Entry { get; } = entry;

    /// <summary>The entry's JSON as the hub protocol writes it, set on first use (two writers at once set equal bytes).</summary>
    public byte[]? Json { get; set; }
}

/// <summary>A room's listing read as its entries, whose JSON the hub protocol copies rather than writes (<see cref="ListedPresence"/>).</summary>
internal sealed class PresenceList(ListedPresence[] users) : IReadOnlyList<PresenceEntry>
{
    public ListedPresence[] Users { get; } = users;

    public PresenceEntry this[int index] => Users[index].Entry;

    public int Count => Users.Length;

    public IEnumerator<PresenceEntry> GetEnumerator()
    {
        foreach (var user in Users)
        {
            yield return user.Entry;
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
