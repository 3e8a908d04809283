using CollabHub.Protocol;

namespace CollabHub.Client.Internal;

/// <summary>
/// A room's presence as the client knows it: the listed users by id, and the room's user count, kept from the Join
/// answer and then from <c>PresenceDelta</c> events. Deltas that arrive while a join is outstanding are held, merged
/// per user (so what is held is bounded by the room's users), and applied over the answer's list. Not thread-safe:
/// the room calls it under its lock.
/// </summary>
internal sealed class PresenceReplica
{
    private readonly SortedDictionary<string, PresenceEntry> _listed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PresenceEntry?> _heldChanges = new(StringComparer.Ordinal);
    private IReadOnlyList<PresenceEntry>? _heldFull;
    private int? _heldCount;
    private bool _holding;

    /// <summary>The listed users, sorted by user id: everyone, or a part of a room larger than the server lists.</summary>
    public IReadOnlyList<PresenceEntry> Listed { get; private set; } = [];

    /// <summary>How many users are in the room.</summary>
    public int Count { get; private set; }

    /// <summary>A join was sent: hold deltas until its answer.</summary>
    public void Hold()
    {
        _holding = true;
        _heldFull = null;
        _heldChanges.Clear();
        _heldCount = null;
    }

    /// <summary>Applies a delta; false when it is held for the join's answer (nothing visible changed).</summary>
    public bool Apply(PresenceDelta delta)
    {
        if (!_holding)
        {
            ApplyNow(delta);
            return true;
        }
        _heldCount = delta.Count;
        if (delta.Full)
        {
            _heldFull = delta.Upserts;
            _heldChanges.Clear();
        }
        else if (!delta.Counted)
        {
            foreach (var userId in delta.Removed ?? [])
            {
                _heldChanges[userId] = null;
            }
            foreach (var entry in delta.Upserts!)
            {
                _heldChanges[entry.UserId] = entry;
            }
        }
        return false;
    }

    /// <summary>The join's answer: its list, then what was held (the answer was read after the join took effect, and deltas are whole entries).</summary>
    public void Joined(IReadOnlyList<PresenceEntry> presence, int count)
    {
        Replace(presence);
        Count = count;
        if (_heldFull is { } full)
        {
            Replace(full);
        }
        foreach (var (userId, entry) in _heldChanges)
        {
            Set(userId, entry);
        }
        if (_heldCount is { } heldCount)
        {
            Count = heldCount;
        }
        Hold();
        _holding = false;
        Listed = [.. _listed.Values];
    }

    private void ApplyNow(PresenceDelta delta)
    {
        Count = delta.Count;
        if (delta.Counted)
        {
            return;
        }
        if (delta.Full)
        {
            Replace(delta.Upserts!);
        }
        else
        {
            foreach (var userId in delta.Removed ?? [])
            {
                _listed.Remove(userId);
            }
            foreach (var entry in delta.Upserts!)
            {
                _listed[entry.UserId] = entry;
            }
        }
        Listed = [.. _listed.Values];
    }

    private void Replace(IReadOnlyList<PresenceEntry> presence)
    {
        _listed.Clear();
        foreach (var entry in presence)
        {
            _listed[entry.UserId] = entry;
        }
    }

    private void Set(string userId, PresenceEntry? entry)
    {
        if (entry is null)
        {
            _listed.Remove(userId);
        }
        else
        {
            _listed[userId] = entry;
        }
    }
}
