using System.Text.Json;
using CollabHub.Client.Internal;
using CollabHub.Protocol;
using Microsoft.Extensions.Logging;

namespace CollabHub.Client;

// CollabClient: what rooms report and ask for (IRoomOwner): joins, refusals, faults, writes, leaving.
public sealed partial class CollabClient
{
    Notifier IRoomOwner.Notifier => _notifier;

    ILogger IRoomOwner.Logger => _logger;

    int IRoomOwner.MaxMessages => _options.MaxMessages;

    int? IRoomOwner.SyncPageSize => _options.SyncPageSize;

    TimeSpan IRoomOwner.AnsweredSeqGrace => _options.AnsweredSeqGrace;

    TimeSpan IRoomOwner.RetryDelay(int attempt) => _backoff.Delay(attempt);

    void IRoomOwner.RoomJoined(CollabRoom room, IRoomChannel channel) => Pump();

    void IRoomOwner.OnChanged(CollabRoom room, EntryChange change) => Changed?.Invoke(room, change);

    void IRoomOwner.OnPosted(CollabRoom room, Message message) => Posted?.Invoke(room, message);

    void IRoomOwner.OnPresenceChanged(CollabRoom room, IReadOnlyList<PresenceEntry> presence) => PresenceChanged?.Invoke(room, presence);

    void IRoomOwner.OnSignaled(CollabRoom room, SignalEvent signal) => Signaled?.Invoke(room, signal);

    void IRoomOwner.RoomRefused(CollabRoom room, CollabHubException error)
    {
        Log.RoomRefused(_logger, room.RoomId, error.Code, error);
        CloseRoom(room, error);
    }

    void IRoomOwner.ChannelFaulted(CollabRoom room, IRoomChannel channel, Exception error)
    {
        if (channel is Session session && !session.IsClosed)
        {
            Log.RoomFaulted(_logger, room.RoomId, session, error);
            session.Abort(error);
        }
    }

    Task<WriteResult> IRoomOwner.SetAsync(CollabRoom room, string key, JsonElement value, WriteOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return EnqueueAsync(room, WriteKind.Set, key, value, options, cancellationToken);
    }

    Task<WriteResult> IRoomOwner.DeleteAsync(CollabRoom room, string key, WriteOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return EnqueueAsync(room, WriteKind.Delete, key, null, options, cancellationToken);
    }

    Task<BatchResult> IRoomOwner.BatchAsync(CollabRoom room, IReadOnlyList<BatchOp> ops, string? mutationId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ops);
        var done = new TaskCompletionSource<BatchResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            if (ops.Count == 0)
            {
                throw new CollabHubException(ErrorCodes.InvalidArgument, $"{ErrorCodes.InvalidArgument}: a batch needs at least one operation");
            }
            var copies = new BatchOp[ops.Count];
            for (var i = 0; i < ops.Count; i++)
            {
                var op = ops[i] ?? throw new ArgumentException("A batch operation is null.", nameof(ops));
                if (op.Value.ValueKind != JsonValueKind.Undefined)
                {
                    CheckSize(op.Value);
                }
                copies[i] = op with { Value = op.Value.ValueKind == JsonValueKind.Undefined ? default : op.Value.Clone() };
            }
            Add(new QueuedWrite
            {
                Kind = WriteKind.Batch,
                Room = room,
                MutationId = mutationId ?? NewMutationId(),
                Ops = copies,
                BatchDone = done,
            });
        }
        catch (CollabHubException refused)
        {
            return Task.FromException<BatchResult>(refused);
        }
        return cancellationToken.CanBeCanceled ? done.Task.WaitAsync(cancellationToken) : done.Task;
    }

    Task<PostResult> IRoomOwner.PostAsync(CollabRoom room, JsonElement body, string? mutationId, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<PostResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            CheckSize(body);
            Add(new QueuedWrite
            {
                Kind = WriteKind.Post,
                Room = room,
                MutationId = mutationId ?? NewMutationId(),
                Value = body.Clone(),
                PostDone = done,
            });
        }
        catch (CollabHubException refused)
        {
            return Task.FromException<PostResult>(refused);
        }
        return cancellationToken.CanBeCanceled ? done.Task.WaitAsync(cancellationToken) : done.Task;
    }

    async Task<bool> IRoomOwner.SignalAsync(CollabRoom room, JsonElement payload, CancellationToken cancellationToken)
    {
        var session = _session;
        if (session is null || session.IsClosed || !room.IsJoinedOn(session))
        {
            return false; // signals are not queued: one made while the room is not joined is dropped
        }
        await session.Connection.SignalAsync(room.RoomId, payload, cancellationToken).ConfigureAwait(false);
        return true;
    }

    async Task IRoomOwner.LeaveAsync(CollabRoom room, CancellationToken cancellationToken)
    {
        Task left;
        lock (_gate)
        {
            if (!_rooms.TryGetValue(room.RoomId, out var open) || !ReferenceEquals(open, room))
            {
                return;
            }
            left = room.BeginLeave();
        }
        FinishLeaveIfDone(room);
        await left.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes a room that is being left once it has no queued writes: it stops being a replica, and the server is told.</summary>
    private void FinishLeaveIfDone(CollabRoom room)
    {
        if (!room.IsLeaving)
        {
            return;
        }
        lock (_queueGate)
        {
            if (_queuedPerRoom.GetValueOrDefault(room) > 0)
            {
                return;
            }
        }
        IRoomChannel? joinedOn;
        lock (_gate)
        {
            // Under the client lock, so OpenRoom can not call the leave off in between.
            if (!room.IsLeaving || !_rooms.TryGetValue(room.RoomId, out var open) || !ReferenceEquals(open, room))
            {
                return;
            }
            _rooms.Remove(room.RoomId);
            if (!room.TryClose(null, out joinedOn))
            {
                return;
            }
        }
        _notifier.Drain();
        if (joinedOn is Session session && ReferenceEquals(session, _session) && !session.IsClosed)
        {
            session.Connection.LeaveAsync(room.RoomId).ContinueWith(_ => room.CompleteLeave(), TaskScheduler.Default);
        }
        else
        {
            room.CompleteLeave();
        }
    }

    /// <summary>Closes a room for good with an error: its queued writes fail with it.</summary>
    private void CloseRoom(CollabRoom room, CollabHubException error)
    {
        lock (_gate)
        {
            if (_rooms.TryGetValue(room.RoomId, out var open) && ReferenceEquals(open, room))
            {
                _rooms.Remove(room.RoomId);
            }
        }
        room.TryClose(error, out _);
        room.CompleteLeave();
        _notifier.Drain();
        List<QueuedWrite> failed;
        lock (_queueGate)
        {
            failed = [.. _queue.Where(w => ReferenceEquals(w.Room, room))];
        }
        foreach (var write in failed)
        {
            Fail(write, error);
        }
    }
}
