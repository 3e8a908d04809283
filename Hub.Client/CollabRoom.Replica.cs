using System.Collections.Immutable;
using CollabHub.Client.Internal;
using CollabHub.Protocol;

namespace CollabHub.Client;

// CollabRoom: the confirmed replica and its ordering rules: join, catch up, hold, fill gaps, apply.
public sealed partial class CollabRoom
{
    /// <summary>Joins the room on <paramref name="channel"/> (a new connection): Join with sinceSeq = Seq, paged, then the held events.</summary>
    internal void Attach(IRoomChannel channel)
    {
        lock (_gate)
        {
            if (_closed || ReferenceEquals(_channel, channel))
            {
                return;
            }
            _channel = channel;
            _joinedOn = null;
            _phase = Phase.CatchingUp;
            _held.Clear();
            _presenceReplica.Hold();
            _answeredCheckScheduled = false;
        }
        _ = CatchUpAsync(channel, join: true);
    }

    /// <summary>The connection <paramref name="channel"/> ended: stop taking its events.</summary>
    internal void Detach(IRoomChannel channel)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_channel, channel))
            {
                return;
            }
            _channel = null;
            _joinedOn = null;
            _phase = Phase.Detached;
            _held.Clear();
        }
    }

    private bool IsCurrent(IRoomChannel channel) => !_closed && ReferenceEquals(_channel, channel);

    /// <summary>
    /// A Join (when <paramref name="join"/>) and then Syncs until the replica has every position up to the held
    /// events and the held events are applied. Only one runs per room: it is started when the phase becomes
    /// <see cref="Phase.CatchingUp"/>, and it ends by making the phase <see cref="Phase.Live"/> (or when the channel changed).
    /// </summary>
    private async Task CatchUpAsync(IRoomChannel channel, bool join)
    {
        var joined = !join;
        try
        {
            bool more;
            if (join)
            {
                long? since;
                long answeredBefore;
                lock (_gate)
                {
                    if (!IsCurrent(channel))
                    {
                        return;
                    }
                    since = _hasState ? _seq : null;
                    answeredBefore = _answeredSeq;
                }
                var answer = await channel.JoinAsync(RoomId, since).ConfigureAwait(false);
                lock (_gate)
                {
                    if (!IsCurrent(channel))
                    {
                        return;
                    }
                    joined = true;
                    _joinedOn = channel;
                    Log.PageApplied(_owner.Logger, RoomId, "Join", since, channel, answer.Full, answer.Seq, answer.Entries.Count, answer.Messages.Count, answer.HasMore);
                    ApplyPage(answer.Full, answer.Seq, answer.Entries, answer.Messages, ChangeOrigin.Join);
                    _hasState = true;
                    _presenceReplica.Joined(answer.Presence, answer.PresenceCount);
                    PublishPresence();
                    SetRole(answer.Role);
                    ForgetAnswersAheadOfStore(answer.HasMore, answer.Seq, answeredBefore);
                    more = answer.HasMore || !Settle(channel);
                }
                _owner.Notifier.Drain();
                _owner.RoomJoined(this, channel);
            }
            else
            {
                more = true;
            }

            while (more)
            {
                long since;
                long answeredBefore;
                lock (_gate)
                {
                    if (!IsCurrent(channel))
                    {
                        return;
                    }
                    since = _seq;
                    answeredBefore = _answeredSeq;
                }
                var page = await channel.SyncAsync(RoomId, since, _owner.SyncPageSize).ConfigureAwait(false);
                lock (_gate)
                {
                    if (!IsCurrent(channel))
                    {
                        return;
                    }
                    Log.PageApplied(_owner.Logger, RoomId, "Sync", since, channel, page.Full, page.Seq, page.Entries.Count, page.Messages.Count, page.HasMore);
                    ApplyPage(page.Full, page.Seq, page.Entries, page.Messages, join ? ChangeOrigin.Join : ChangeOrigin.Sync);
                    ForgetAnswersAheadOfStore(page.HasMore, page.Seq, answeredBefore);
                    more = page.HasMore || !Settle(channel);
                }
                _owner.Notifier.Drain();
            }
        }
        catch (Exception error)
        {
            lock (_gate)
            {
                if (!IsCurrent(channel))
                {
                    return;
                }
            }
            if (!joined && error is CollabHubException refused && !ErrorCodes.IsTemporary(refused.Code))
            {
                _owner.RoomRefused(this, refused);
            }
            else if (error is CollabHubException busy && ErrorCodes.IsTemporary(busy.Code))
            {
                RetryCatchUp(channel, join: !joined, busy.Code);
            }
            else
            {
                _owner.ChannelFaulted(this, channel, error);
            }
        }
    }

    /// <summary>
    /// A Join or Sync refused for a while (rate_limited, overloaded, unavailable): ask again after a backoff on the same
    /// connection, as the JS SDK does; the connection and the client's other rooms are not disturbed.
    /// </summary>
    private void RetryCatchUp(IRoomChannel channel, bool join, string code)
    {
        int attempt;
        lock (_gate)
        {
            attempt = ++_catchUpRetries;
        }
        var delay = _owner.RetryDelay(attempt);
        Log.CatchUpRetry(_owner.Logger, RoomId, code, delay, attempt);
        Task.Delay(delay).ContinueWith(_ =>
        {
            lock (_gate)
            {
                if (!IsCurrent(channel))
                {
                    return;
                }
            }
            _ = CatchUpAsync(channel, join);
        }, TaskScheduler.Default);
    }

    /// <summary>
    /// A last page that is behind an answered write's seq known before the page was asked for means the store went back
    /// (it was reset); waiting for that seq would never end, so forget it.
    /// </summary>
    private void ForgetAnswersAheadOfStore(bool hasMore, long pageSeq, long answeredBefore)
    {
        if (!hasMore && answeredBefore > pageSeq && _answeredSeq == answeredBefore)
        {
            _answeredSeq = _seq;
        }
    }

    /// <summary>
    /// Applies the held events that now follow; true (and live) when nothing is left held, false when a gap remains
    /// and another Sync is needed. Under the lock.
    /// </summary>
    private bool Settle(IRoomChannel channel)
    {
        ApplyHeld();
        if (_held.Count > 0)
        {
            return false;
        }
        _phase = Phase.Live;
        _catchUpRetries = 0;
        if (!_synced.Task.IsCompleted)
        {
            // Through the notifier, after the join's events: a handler attached when JoinAsync returns sees only later ones.
            _owner.Notifier.Post(() => _synced.TrySetResult());
        }
        ScheduleAnsweredCheck(channel);
        return true;
    }

    private void ApplyHeld()
    {
        while (_held.Count > 0)
        {
            var (position, item) = _held.First();
            if (position > _seq + 1)
            {
                return;
            }
            if (position == _seq + 1 && item is Entry { Batch: { } batch } && batch.To > position)
            {
                // A batch's entries are applied together, once all of them are here.
                if (!HoldsUpTo(batch.To))
                {
                    return;
                }
                ApplyBatch(position, batch.To);
                continue;
            }
            _held.Remove(position);
            if (position == _seq + 1)
            {
                ApplyEvent(position, item);
            }
        }
    }

    /// <summary>Whether every position from the next one to <paramref name="to"/> is held. Under the lock.</summary>
    private bool HoldsUpTo(long to)
    {
        for (var position = _seq + 1; position <= to; position++)
        {
            if (!_held.ContainsKey(position))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Applies the held entries of one batch, <paramref name="from"/> to <paramref name="to"/>, as one step. Under the lock.</summary>
    private void ApplyBatch(long from, long to)
    {
        for (var position = from; position <= to; position++)
        {
            PutConfirmed((Entry)_held[position], ChangeOrigin.Remote);
            _held.Remove(position);
        }
        MoveTo(to, new AppliedRange(from, to, Full: false), ChangeOrigin.Remote);
    }

    /// <summary>Whether <paramref name="position"/> belongs to the batch whose first entry waits as the next position.</summary>
    private bool ContinuesHeldBatch(long position) =>
        _held.TryGetValue(_seq + 1, out var next) && next is Entry { Batch: { } batch } && position <= batch.To;

    // Events of the connection.
    internal void OnChanged(IRoomChannel channel, Entry entry) => OnEvent(channel, entry.Version, entry);

    internal void OnPosted(IRoomChannel channel, Message message) => OnEvent(channel, message.Seq, message);

    internal void OnPresenceDelta(IRoomChannel channel, PresenceDelta delta)
    {
        lock (_gate)
        {
            // Held until the Join answer when it comes first: it may be older or newer than the answer's list.
            if (!IsCurrent(channel) || !_presenceReplica.Apply(delta))
            {
                return;
            }
            PublishPresence();
        }
        _owner.Notifier.Drain();
    }

    /// <summary>The server changed this connection's role; <see cref="RoomRoles.None"/> took it out of the room.</summary>
    internal void OnAccessChanged(IRoomChannel channel, AccessChange change)
    {
        lock (_gate)
        {
            if (!IsCurrent(channel))
            {
                return;
            }
            SetRole(change.Role);
        }
        _owner.Notifier.Drain();
        if (change.Role == RoomRoles.None)
        {
            _owner.RoomRefused(this, new CollabHubException(ErrorCodes.Forbidden, $"{ErrorCodes.Forbidden}: access to room {RoomId} was revoked"));
        }
    }

    private void SetRole(string role)
    {
        if (_role == role)
        {
            return;
        }
        Volatile.Write(ref _role, role);
        _owner.Notifier.Post(() => RoleChanged?.Invoke(role));
    }

    internal void OnSignaled(IRoomChannel channel, SignalEvent signal)
    {
        lock (_gate)
        {
            if (!IsCurrent(channel))
            {
                return;
            }
            _owner.Notifier.Post(() =>
            {
                Signaled?.Invoke(signal);
                _owner.OnSignaled(this, signal);
            });
        }
        _owner.Notifier.Drain();
    }

    private void OnEvent(IRoomChannel channel, long position, object item)
    {
        var fill = false;
        lock (_gate)
        {
            if (!IsCurrent(channel))
            {
                return;
            }
            if (_phase != Phase.Live)
            {
                if (position > _seq)
                {
                    _held[position] = item;
                }
            }
            else if (position == _seq + 1 && item is Entry { Batch: { } batch } && batch.To > position)
            {
                _held[position] = item;
                ApplyHeld();
            }
            else if (position == _seq + 1)
            {
                ApplyEvent(position, item);
            }
            else if (ContinuesHeldBatch(position))
            {
                // The rest of a batch whose first entries are held: not a gap.
                _held[position] = item;
                ApplyHeld();
            }
            else if (position > _seq + 1)
            {
                Log.GapSeen(_owner.Logger, RoomId, position, _seq);
                _held[position] = item;
                _phase = Phase.CatchingUp;
                fill = true;
            }
        }
        _owner.Notifier.Drain();
        if (fill)
        {
            _ = CatchUpAsync(channel, join: false);
        }
    }

    /// <summary>
    /// One of this client's writes to the room was answered with <paramref name="seq"/>: if the replica is behind it
    /// (after a short grace for the event itself), its event may have been lost, so fill the gap.
    /// </summary>
    internal void OnWriteAnswered(long seq)
    {
        lock (_gate)
        {
            if (seq <= _answeredSeq)
            {
                return;
            }
            _answeredSeq = seq;
            if (_phase == Phase.Live && _channel is { } channel)
            {
                ScheduleAnsweredCheck(channel);
            }
        }
    }

    private void ScheduleAnsweredCheck(IRoomChannel channel)
    {
        if (_answeredSeq <= _seq || _answeredCheckScheduled)
        {
            return;
        }
        _answeredCheckScheduled = true;
        _ = Task.Delay(_owner.AnsweredSeqGrace).ContinueWith(_ => CheckAnswered(channel), TaskScheduler.Default);
    }

    private void CheckAnswered(IRoomChannel channel)
    {
        lock (_gate)
        {
            if (!IsCurrent(channel))
            {
                return;
            }
            _answeredCheckScheduled = false;
            if (_phase != Phase.Live || _answeredSeq <= _seq)
            {
                return;
            }
            _phase = Phase.CatchingUp;
        }
        _ = CatchUpAsync(channel, join: false);
    }

    // Applying to the confirmed replica (all under the lock; app events are posted, raised after).
    private void ApplyEvent(long position, object item)
    {
        if (item is Entry entry)
        {
            PutConfirmed(entry, ChangeOrigin.Remote);
        }
        else
        {
            AddMessage((Message)item);
        }
        MoveTo(position, new AppliedRange(position, position, Full: false), ChangeOrigin.Remote);
    }

    private void ApplyPage(bool full, long seq, IReadOnlyList<Entry> entries, IReadOnlyList<Message> messages, ChangeOrigin origin)
    {
        if (full)
        {
            var before = _confirmed;
            var builder = NoEntries.ToBuilder();
            foreach (var entry in entries)
            {
                if (!entry.Deleted)
                {
                    builder[entry.Key] = entry;
                }
            }
            Volatile.Write(ref _confirmed, builder.ToImmutable());
            // Report in the answer's order (by version), then the keys it no longer has.
            foreach (var entry in entries)
            {
                RefreshView(entry.Key, origin);
            }
            foreach (var key in before.Keys.Where(key => !_confirmed.ContainsKey(key)).Order(StringComparer.Ordinal))
            {
                RefreshView(key, origin);
            }
            _messages.Clear();
            if (seq < _seq)
            {
                _newestPosted = 0; // the store went back (reset): its messages are new again
            }
            _messagesSnapshot = null;
            foreach (var message in messages)
            {
                AddMessage(message);
            }
            MoveTo(seq, new AppliedRange(1, seq, Full: true), origin);
            return;
        }

        foreach (var entry in entries)
        {
            PutConfirmed(entry, origin);
        }
        foreach (var message in messages)
        {
            AddMessage(message);
        }
        if (seq > _seq)
        {
            MoveTo(seq, new AppliedRange(_seq + 1, seq, Full: false), origin);
        }
    }

    private void MoveTo(long seq, AppliedRange range, ChangeOrigin origin)
    {
        Volatile.Write(ref _seq, seq);
        _owner.Notifier.Post(() => Applied?.Invoke(range));
        ForgetConfirmedPending(origin);
    }

    /// <summary>Sets or (for a tombstone) removes a confirmed entry, unless the replica has a newer version of the key.</summary>
    private void PutConfirmed(Entry entry, ChangeOrigin origin)
    {
        var current = _confirmed.GetValueOrDefault(entry.Key);
        if (current is not null && current.Version >= entry.Version)
        {
            return;
        }
        if (entry.Deleted)
        {
            if (current is null)
            {
                return;
            }
            Volatile.Write(ref _confirmed, _confirmed.Remove(entry.Key));
        }
        else
        {
            Volatile.Write(ref _confirmed, _confirmed.SetItem(entry.Key, entry));
        }
        RefreshView(entry.Key, origin);
    }

    private void AddMessage(Message message)
    {
        var max = _owner.MaxMessages;
        if (message.Seq > _newestPosted)
        {
            _newestPosted = message.Seq;
            _owner.Notifier.Post(() =>
            {
                Posted?.Invoke(message);
                _owner.OnPosted(this, message);
            });
        }
        if (max == 0 || _messages.ContainsKey(message.Seq) || (_messages.Count >= max && message.Seq < _messages.Keys[0]))
        {
            return;
        }
        _messages[message.Seq] = message;
        while (_messages.Count > max)
        {
            _messages.RemoveAt(0);
        }
        Volatile.Write(ref _messagesSnapshot, null);
    }

    private void PublishPresence()
    {
        var presence = _presenceReplica.Listed;
        Volatile.Write(ref _presence, presence);
        Volatile.Write(ref _presenceCount, _presenceReplica.Count);
        _owner.Notifier.Post(() =>
        {
            PresenceChanged?.Invoke(presence);
            _owner.OnPresenceChanged(this, presence);
        });
    }
}
