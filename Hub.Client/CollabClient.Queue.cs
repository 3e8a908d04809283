using System.Text;
using System.Text.Json;
using CollabHub.Client.Internal;
using CollabHub.Protocol;

namespace CollabHub.Client;

// CollabClient: the write queue: ordered, bounded, pipelined, retried, answered once.
public sealed partial class CollabClient
{
    private static string NewMutationId() => Guid.NewGuid().ToString("N");

    private void CheckSize(JsonElement value)
    {
        var max = _options.MaxValueBytes;
        var text = value.GetRawText();
        if (text.Length > max / 3 && Encoding.UTF8.GetByteCount(text) > max)
        {
            throw new CollabHubException(ErrorCodes.TooLarge, $"{ErrorCodes.TooLarge}: the value is larger than {max} bytes of JSON (CollabClientOptions.MaxValueBytes)");
        }
    }

    private Task<WriteResult> EnqueueAsync(CollabRoom room, WriteKind kind, string key, JsonElement? value, WriteOptions? options, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<WriteResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            if (value is { } v)
            {
                CheckSize(v);
            }
            Add(new QueuedWrite
            {
                Kind = kind,
                Room = room,
                MutationId = options?.MutationId ?? NewMutationId(),
                Key = key,
                Value = value?.Clone(),
                ExpectedVersion = options?.ExpectedVersion,
                WriteDone = done,
            });
        }
        catch (CollabHubException refused)
        {
            // Refusals made here (queue_full, not_joined, too_large) come the way the server's do: in the task.
            return Task.FromException<WriteResult>(refused);
        }
        return cancellationToken.CanBeCanceled ? done.Task.WaitAsync(cancellationToken) : done.Task;
    }

    /// <summary>Queues a write (its <see cref="QueuedWrite.Id"/> is given here) and sends what can be sent.</summary>
    private void Add(QueuedWrite write, bool loading = false)
    {
        lock (_queueGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_queue.Count >= _options.MaxQueuedWrites && !loading)
            {
                throw new CollabHubException(ErrorCodes.QueueFull, $"{ErrorCodes.QueueFull}: the write queue already holds {_options.MaxQueuedWrites} writes");
            }
            if (!loading && !write.Room.AcceptsWrites)
            {
                throw new CollabHubException(ErrorCodes.NotJoined, $"{ErrorCodes.NotJoined}: room {write.Room.RoomId} is not open in this client (it was left)");
            }
            write.Id = ++_nextWriteId;
            write.Node = _queue.AddLast(write);
            _queuedPerRoom[write.Room] = _queuedPerRoom.GetValueOrDefault(write.Room) + 1;
            if (_options.OptimisticUpdates && write.Kind == WriteKind.Batch)
            {
                write.Room.AddPendingBatch(write.Id, write.Ops!);
            }
            else if (_options.OptimisticUpdates && write.Kind != WriteKind.Post)
            {
                write.Room.AddPending(write.Id, write.Key!, write.Value);
            }
            if (!loading)
            {
                var count = _queue.Count;
                _notifier.Post(() => PendingWritesChanged?.Invoke(count));
            }
        }
        if (!loading)
        {
            RequestSave();
            Pump();
            _notifier.Drain();
        }
    }

    /// <summary>Sends, in order, the writes that may go now on the current session.</summary>
    private void Pump()
    {
        lock (_queueGate)
        {
            if (_pumping)
            {
                _pumpAgain = true;
                return;
            }
            _pumping = true;
        }
        while (true)
        {
            var session = _session;
            List<QueuedWrite> batch;
            lock (_queueGate)
            {
                batch = session is { IsClosed: false } && !_disposed ? TakeSendable(session) : [];
                if (batch.Count == 0)
                {
                    if (_pumpAgain)
                    {
                        _pumpAgain = false;
                        continue;
                    }
                    _pumping = false;
                    return;
                }
                _pumpAgain = false;
            }
            foreach (var write in batch)
            {
                Send(write, session!);
            }
        }
    }

    /// <summary>Under the queue lock: marks in flight and returns the writes that may be sent on <paramref name="session"/> now, in order.</summary>
    private List<QueuedWrite> TakeSendable(Session session)
    {
        var batch = new List<QueuedWrite>();
        var now = Environment.TickCount64;
        foreach (var write in _queue)
        {
            if (ReferenceEquals(write.InFlight, session))
            {
                continue;
            }
            if (session.InFlight >= _options.MaxInFlight || !write.Room.IsJoinedOn(session) || write.Gates.Any(session.Gates.Contains))
            {
                break;
            }
            if (write.RetryAt > now)
            {
                ScheduleRetryPump(write.RetryAt);
                break;
            }
            write.InFlight = session;
            session.Gates.UnionWith(write.Gates);
            session.InFlight++;
            batch.Add(write);
        }
        return batch;
    }

    /// <summary>Under the queue lock: pumps again at <paramref name="at"/> (a <see cref="Environment.TickCount64"/>).</summary>
    private void ScheduleRetryPump(long at)
    {
        if (at >= _retryPumpAt)
        {
            return;
        }
        _retryPumpAt = at;
        var delay = TimeSpan.FromMilliseconds(Math.Max(0, at - Environment.TickCount64) + 1);
        _ = Task.Delay(delay).ContinueWith(_ =>
        {
            lock (_queueGate)
            {
                if (_retryPumpAt == at)
                {
                    _retryPumpAt = long.MaxValue;
                }
            }
            Pump();
        }, TaskScheduler.Default);
    }

    private void Send(QueuedWrite write, Session session)
    {
        var options = new WriteOptions(write.MutationId, write.ExpectedVersion);
        switch (write.Kind)
        {
            case WriteKind.Set:
                Watch(write, session, Invoke(() => session.Connection.SetAsync(write.Room.RoomId, write.Key!, write.Value!.Value, options)));
                break;
            case WriteKind.Delete:
                Watch(write, session, Invoke(() => session.Connection.DeleteAsync(write.Room.RoomId, write.Key!, options)));
                break;
            case WriteKind.Batch:
                Watch(write, session, Invoke(() => session.Connection.BatchAsync(write.Room.RoomId, write.Ops!, write.MutationId)));
                break;
            default:
                Watch(write, session, Invoke(() => session.Connection.PostAsync(write.Room.RoomId, write.Value!.Value, write.MutationId)));
                break;
        }
    }

    private static Task<T> Invoke<T>(Func<Task<T>> call)
    {
        try
        {
            return call();
        }
        catch (Exception ex)
        {
            return Task.FromException<T>(ex);
        }
    }

    private void Watch<T>(QueuedWrite write, Session session, Task<T> answer) where T : class =>
        answer.ContinueWith(task =>
        {
            if (task.IsCompletedSuccessfully)
            {
                Complete(write, session, task.Result);
            }
            else
            {
                var error = task.Exception?.InnerException ?? new OperationCanceledException("The write was canceled.");
                if (error is CollabHubException refused)
                {
                    if (ErrorCodes.IsTemporary(refused.Code))
                    {
                        Retry(write, session, refused);
                    }
                    else
                    {
                        Fail(write, refused);
                    }
                }
                else
                {
                    Lost(write, session, error);
                }
            }
            _notifier.Drain();
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

    /// <summary>Takes a write out of the queue; false when it was out already. Under the queue lock.</summary>
    private bool Remove(QueuedWrite write)
    {
        if (write.Node is null)
        {
            return false;
        }
        _queue.Remove(write.Node);
        write.Node = null;
        ReleaseInFlight(write);
        var left = _queuedPerRoom[write.Room] - 1;
        if (left == 0)
        {
            _queuedPerRoom.Remove(write.Room);
        }
        else
        {
            _queuedPerRoom[write.Room] = left;
        }
        var count = _queue.Count;
        _notifier.Post(() => PendingWritesChanged?.Invoke(count));
        return true;
    }

    private static void ReleaseInFlight(QueuedWrite write)
    {
        if (write.InFlight is { } session)
        {
            session.Gates.ExceptWith(write.Gates);
            session.InFlight--;
            write.InFlight = null;
        }
    }

    private void Complete(QueuedWrite write, Session session, object answer)
    {
        lock (_queueGate)
        {
            if (!Remove(write))
            {
                return;
            }
        }
        var room = write.Room;
        switch (answer)
        {
            case WriteResult result:
                if (result.Applied)
                {
                    room.AckPending(write.Id, write.Key!, result.Seq, result.Entry);
                    room.OnWriteAnswered(result.Seq);
                }
                else
                {
                    room.DropPending(write.Id, write.Key!);
                }
                write.WriteDone?.TrySetResult(result);
                break;
            case PostResult result:
                room.OnWriteAnswered(result.Seq);
                write.PostDone?.TrySetResult(result);
                break;
            case BatchResult result:
                if (result.Applied)
                {
                    room.AckPendingBatch(write.Id, write.Ops!, result.Entries);
                    room.OnWriteAnswered(result.Seq);
                }
                else
                {
                    room.DropPendingBatch(write.Id, write.Ops!);
                }
                write.BatchDone?.TrySetResult(result);
                break;
        }
        AfterRemoval(room);
        RaiseSettled(write, answer, null);
    }

    private void RaiseSettled(QueuedWrite write, object? answer, CollabHubException? error)
    {
        var settled = new SettledWrite(write.MutationId, write.Room.RoomId, write.Kind, write.Key, answer, error);
        _notifier.Post(() => Settled?.Invoke(settled));
        _notifier.Drain();
    }

    private void Fail(QueuedWrite write, CollabHubException error)
    {
        lock (_queueGate)
        {
            if (!Remove(write))
            {
                return;
            }
        }
        if (write.Key is { } key)
        {
            write.Room.DropPending(write.Id, key);
        }
        else if (write.Ops is { } ops)
        {
            write.Room.DropPendingBatch(write.Id, ops);
        }
        if (write.Silent)
        {
            Log.LoadedWriteFailed(_logger, write.MutationId, write.Room.RoomId, error.Code, error);
        }
        write.WriteDone?.TrySetException(error);
        write.PostDone?.TrySetException(error);
        write.BatchDone?.TrySetException(error);
        AfterRemoval(write.Room);
        RaiseSettled(write, null, error);
    }

    private void AfterRemoval(CollabRoom room)
    {
        RequestSave();
        FinishLeaveIfDone(room);
        Pump();
        _notifier.Drain();
    }

    /// <summary>A temporary refusal: send the write again, with the same mutation id, after a backoff; later writes wait behind it.</summary>
    private void Retry(QueuedWrite write, Session session, CollabHubException error)
    {
        TimeSpan delay;
        lock (_queueGate)
        {
            if (write.Node is null || !ReferenceEquals(write.InFlight, session))
            {
                return;
            }
            ReleaseInFlight(write);
            write.Refusals++;
            delay = _backoff.Delay(write.Refusals);
            write.RetryAt = Environment.TickCount64 + (long)delay.TotalMilliseconds;
        }
        Log.WriteRetrying(_logger, write.MutationId, write.Room.RoomId, error.Code, write.Refusals, delay);
        Pump();
    }

    /// <summary>The answer was lost with the connection (or the call could not be sent): the write is sent again on the next connection.</summary>
    private void Lost(QueuedWrite write, Session session, Exception error)
    {
        lock (_queueGate)
        {
            if (write.Node is null || !ReferenceEquals(write.InFlight, session))
            {
                return;
            }
            ReleaseInFlight(write);
        }
        session.Abort(error);
    }
}
