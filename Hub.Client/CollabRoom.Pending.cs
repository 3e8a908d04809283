using System.Text.Json;
using CollabHub.Client.Internal;
using CollabHub.Protocol;

namespace CollabHub.Client;

// CollabRoom: optimistic apply: this client's unanswered sets and deletes over the confirmed entries.
public sealed partial class CollabRoom
{
    private sealed class PendingValue(long id, Entry? entry)
    {
        public long Id { get; } = id;

        /// <summary>What the view shows for the key while this write is the latest: null for a delete.</summary>
        public Entry? Entry { get; set; } = entry;

        /// <summary>The seq the server applied it at; 0 until answered.</summary>
        public long AckedSeq { get; set; }
    }

    /// <summary>A set (<paramref name="value"/>) or delete (null) of this client was queued: show it in the view.</summary>
    internal void AddPending(long id, string key, JsonElement? value)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            var entry = value is { } v ? new Entry(key, v, 0, false, "", DateTimeOffset.UtcNow) : null;
            if (!_pending.TryGetValue(key, out var list))
            {
                _pending[key] = list = [];
            }
            list.Add(new PendingValue(id, entry));
            RefreshView(key, ChangeOrigin.Local);
        }
    }

    /// <summary>A batch of this client was queued: its keys show in the view together (one lock, events raised after).</summary>
    internal void AddPendingBatch(long id, IReadOnlyList<BatchOp> ops)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            foreach (var op in ops)
            {
                var entry = op.Op == BatchOps.Set ? new Entry(op.Key, op.Value, 0, false, "", DateTimeOffset.UtcNow) : null;
                if (!_pending.TryGetValue(op.Key, out var list))
                {
                    _pending[op.Key] = list = [];
                }
                list.Add(new PendingValue(id, entry));
                RefreshView(op.Key, ChangeOrigin.Local);
            }
        }
    }

    /// <summary>The batch was applied: each key as <see cref="AckPending"/> with the entry its operation left.</summary>
    internal void AckPendingBatch(long id, IReadOnlyList<BatchOp> ops, IReadOnlyList<Entry> entries)
    {
        for (var i = 0; i < ops.Count; i++)
        {
            AckPending(id, ops[i].Key, entries[i].Version, entries[i]);
        }
    }

    /// <summary>The batch ended without being applied (a conflict, an error): roll every key of it back.</summary>
    internal void DropPendingBatch(long id, IReadOnlyList<BatchOp> ops)
    {
        foreach (var op in ops)
        {
            DropPending(id, op.Key);
        }
    }

    /// <summary>
    /// The write was applied at <paramref name="seq"/>: the view shows the server's <paramref name="entry"/> until the
    /// confirmed replica reaches that seq, then the confirmed entry.
    /// </summary>
    internal void AckPending(long id, string key, long seq, Entry? entry)
    {
        lock (_gate)
        {
            if (!_pending.TryGetValue(key, out var list) || list.Find(p => p.Id == id) is not { } pending)
            {
                return;
            }
            if (seq <= _seq)
            {
                RemovePending(key, list, pending);
            }
            else
            {
                pending.Entry = entry is { Deleted: false } ? entry : null;
                pending.AckedSeq = seq;
                _ackedPending++;
            }
            RefreshView(key, ChangeOrigin.Confirm);
        }
        _owner.Notifier.Drain();
    }

    /// <summary>The write ended without being applied (a conflict, a no-op delete, an error): roll the view back.</summary>
    internal void DropPending(long id, string key)
    {
        lock (_gate)
        {
            if (!_pending.TryGetValue(key, out var list) || list.Find(p => p.Id == id) is not { } pending)
            {
                return;
            }
            RemovePending(key, list, pending);
            RefreshView(key, ChangeOrigin.Rollback);
        }
        _owner.Notifier.Drain();
    }

    private void RemovePending(string key, List<PendingValue> list, PendingValue pending)
    {
        list.Remove(pending);
        if (pending.AckedSeq > 0)
        {
            _ackedPending--;
        }
        if (list.Count == 0)
        {
            _pending.Remove(key);
        }
    }

    /// <summary>Drops the answered pending writes the confirmed replica has now reached.</summary>
    private void ForgetConfirmedPending(ChangeOrigin origin)
    {
        if (_ackedPending == 0)
        {
            return;
        }
        foreach (var (key, list) in _pending.ToList())
        {
            var reached = list.Where(p => p.AckedSeq > 0 && p.AckedSeq <= _seq).ToList();
            foreach (var pending in reached)
            {
                RemovePending(key, list, pending);
            }
            if (reached.Count > 0)
            {
                RefreshView(key, origin);
            }
        }
    }

    /// <summary>Recomputes the view of <paramref name="key"/> and posts <see cref="Changed"/> if it changed.</summary>
    private void RefreshView(string key, ChangeOrigin origin)
    {
        var now = _pending.TryGetValue(key, out var list) ? list[^1].Entry : _confirmed.GetValueOrDefault(key);
        var before = _view.GetValueOrDefault(key);
        if (SameWrite(before, now))
        {
            return;
        }
        Volatile.Write(ref _view, now is null ? _view.Remove(key) : _view.SetItem(key, now));
        var change = new EntryChange(key, now, origin);
        _owner.Notifier.Post(() =>
        {
            Changed?.Invoke(change);
            _owner.OnChanged(this, change);
        });
    }

    /// <summary>Two entries are the same when they are one object, or both confirmed with one version (a version is one write).</summary>
    private static bool SameWrite(Entry? a, Entry? b) =>
        ReferenceEquals(a, b) || (a is not null && b is not null && a.Version != 0 && a.Version == b.Version && a.Deleted == b.Deleted);
}
