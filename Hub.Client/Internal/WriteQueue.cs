using System.Text;
using System.Text.Json;
using CollabHub.Protocol;
using Microsoft.Extensions.Logging;

namespace CollabHub.Client.Internal;

/// <summary>
/// The write side of a <see cref="CollabClient"/>: one queue of writes, each with its mutation id, sent in order on the
/// current session, several at a time up to <see cref="CollabClientOptions.MaxInFlight"/> but never two with one
/// ordering gate; sent again after a lost connection and, with backoff, after a temporary refusal; answered once.
/// With <see cref="CollabClientOptions.OfflineQueuePath"/>, the queue is loaded from its file at the start and saved
/// after every change (<see cref="QueueSaver"/>).
/// </summary>
internal sealed class WriteQueue
{
    private readonly CollabClientOptions _options;
    private readonly ILogger _logger;
    private readonly Notifier _notifier;
    private readonly Backoff _backoff;
    private readonly ConnectionLoop _loop;
    private readonly Action<CollabRoom> _writeRemoved;
    private readonly QueueSaver? _saver;

    // Guards the queue, the counts per room, the write ids, the pump's flags, and the queued writes' and sessions'
    // in-flight marks (QueuedWrite.Node, InFlight, Refusals, RetryAt; Session.Gates, InFlight). A room's lock may be taken under it.
    private readonly object _gate = new();
    private readonly LinkedList<QueuedWrite> _queue = new();
    private readonly Dictionary<CollabRoom, int> _queuedPerRoom = [];
    private long _nextWriteId;
    private bool _pumping;
    private bool _pumpAgain;
    private long _retryPumpAt = long.MaxValue;

    /// <param name="options">The client's options: the queue's limits, and the offline queue file.</param>
    /// <param name="logger">The client's logger.</param>
    /// <param name="notifier">Raises the queue's events.</param>
    /// <param name="backoff">The wait before a write refused for now is sent again.</param>
    /// <param name="loop">The session writes are sent on.</param>
    /// <param name="writeRemoved">Told, outside the queue's lock, that a write of the room left the queue (answered or failed).</param>
    /// <exception cref="InvalidOperationException">Another client holds the offline queue file.</exception>
    public WriteQueue(CollabClientOptions options, ILogger logger, Notifier notifier, Backoff backoff, ConnectionLoop loop, Action<CollabRoom> writeRemoved)
    {
        _options = options;
        _logger = logger;
        _notifier = notifier;
        _backoff = backoff;
        _loop = loop;
        _writeRemoved = writeRemoved;
        if (options.OfflineQueuePath is { } path)
        {
            _saver = new QueueSaver(new QueueFile(path), logger, notifier, Snapshot, error => Error?.Invoke(error));
        }
    }

    /// <summary>Raised through the notifier; see <see cref="CollabClient.Settled"/>.</summary>
    public event Action<SettledWrite>? Settled;

    /// <summary>Raised through the notifier; see <see cref="CollabClient.Error"/>.</summary>
    public event Action<Exception>? Error;

    /// <summary>Raised through the notifier; see <see cref="CollabClient.PendingWritesChanged"/>.</summary>
    public event Action<int>? PendingWritesChanged;

    /// <summary>How many writes have no answer yet, queued or in flight.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>
    /// Queues the writes the offline queue file holds, if there is one, in its order, in the rooms <paramref name="roomFor"/> gives.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not an offline queue this client can read; the file is closed.</exception>
    public void Load(Func<string, CollabRoom> roomFor)
    {
        if (_saver is null)
        {
            return;
        }
        try
        {
            var writes = _saver.Load();
            foreach (var persisted in writes)
            {
                Add(QueuedWrite.FromPersisted(persisted, roomFor(persisted.RoomId)), loading: true);
            }
            if (writes.Count > 0)
            {
                Log.QueueLoaded(_logger, writes.Count, _saver.Path);
            }
        }
        catch
        {
            _saver.Close();
            throw;
        }
    }

    public Task<WriteResult> SetAsync(CollabRoom room, string key, JsonElement value, WriteOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return EnqueueAsync(room, WriteKind.Set, key, value, options, cancellationToken);
    }

    public Task<WriteResult> DeleteAsync(CollabRoom room, string key, WriteOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return EnqueueAsync(room, WriteKind.Delete, key, null, options, cancellationToken);
    }

    public Task<BatchResult> BatchAsync(CollabRoom room, IReadOnlyList<BatchOp> ops, string? mutationId, CancellationToken cancellationToken)
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

    public Task<PostResult> PostAsync(CollabRoom room, JsonElement body, string? mutationId, CancellationToken cancellationToken)
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

    /// <summary>Whether the room has writes in the queue.</summary>
    public bool HasWrites(CollabRoom room)
    {
        lock (_gate)
        {
            return _queuedPerRoom.GetValueOrDefault(room) > 0;
        }
    }

    /// <summary>Fails every queued write of <paramref name="room"/> with <paramref name="error"/>.</summary>
    public void FailRoom(CollabRoom room, CollabHubException error)
    {
        List<QueuedWrite> failed;
        lock (_gate)
        {
            failed = [.. _queue.Where(w => ReferenceEquals(w.Room, room))];
        }
        foreach (var write in failed)
        {
            Fail(write, error);
        }
    }

    /// <summary>See <see cref="CollabClient.DiscardPending"/>.</summary>
    public void DiscardAll()
    {
        List<QueuedWrite> all;
        lock (_gate)
        {
            all = [.. _queue];
        }
        var cancelled = new CollabHubException(ErrorCodes.Cancelled, $"{ErrorCodes.Cancelled}: the write was discarded (DiscardPending)");
        foreach (var write in all)
        {
            Fail(write, cancelled);
        }
    }

    /// <summary>The session ended: its writes in flight will be sent again on the next one.</summary>
    public void SessionEnded(Session session)
    {
        lock (_gate)
        {
            foreach (var write in _queue)
            {
                if (ReferenceEquals(write.InFlight, session))
                {
                    write.InFlight = null;
                }
            }
        }
    }

    /// <summary>Saves the offline queue file now, if there is one.</summary>
    public void SaveNow() => _saver?.SaveNow();

    /// <summary>
    /// The client is disposed: closes the offline queue file and fails the tasks of the unanswered writes with
    /// <paramref name="disposed"/> (the writes stay in the file).
    /// </summary>
    public void Close(ObjectDisposedException disposed)
    {
        _saver?.Close();
        List<QueuedWrite> unanswered;
        lock (_gate)
        {
            unanswered = [.. _queue];
        }
        foreach (var write in unanswered)
        {
            write.Fail(disposed);
        }
    }

    /// <summary>Sends, in order, the writes that may go now on the current session.</summary>
    public void Pump()
    {
        lock (_gate)
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
            var session = _loop.Session;
            List<QueuedWrite> batch;
            lock (_gate)
            {
                batch = session is { IsClosed: false } && !_loop.IsDisposed ? TakeSendable(session) : [];
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
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_loop.IsDisposed, typeof(CollabClient));
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
            _saver?.RequestSave();
            Pump();
            _notifier.Drain();
        }
    }

    /// <summary>The queue as the offline queue file keeps it.</summary>
    private List<PersistedWrite> Snapshot()
    {
        lock (_gate)
        {
            return [.. _queue.Select(w => w.ToPersisted())];
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
            lock (_gate)
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
                Complete(write, task.Result);
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

    private void Complete(QueuedWrite write, object answer)
    {
        lock (_gate)
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
        lock (_gate)
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
        write.Fail(error);
        AfterRemoval(write.Room);
        RaiseSettled(write, null, error);
    }

    private void AfterRemoval(CollabRoom room)
    {
        _saver?.RequestSave();
        _writeRemoved(room);
        Pump();
        _notifier.Drain();
    }

    /// <summary>A temporary refusal: send the write again, with the same mutation id, after a backoff; later writes wait behind it.</summary>
    private void Retry(QueuedWrite write, Session session, CollabHubException error)
    {
        TimeSpan delay;
        lock (_gate)
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
        lock (_gate)
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
