using System.Text.Json;
using CollabHub.Protocol;
using Microsoft.Extensions.Logging;

namespace CollabHub.Client.Internal;

/// <summary>
/// The room side of a <see cref="CollabClient"/>: the open rooms by id, each a <see cref="CollabRoom"/> replica. It
/// joins them again on every new session, routes each session's room events to them to apply, and is what they report
/// to (<see cref="IRoomOwner"/>): their writes go to the <see cref="WriteQueue"/>, a room being left closes once its
/// writes are answered, and a room the server refuses closes with its writes failed.
/// </summary>
internal sealed class RoomRegistry(CollabClientOptions options, ILogger logger, Notifier notifier, Backoff backoff, ConnectionLoop loop, WriteQueue queue) : IRoomOwner
{
    // Guards _rooms: which rooms are open. A room's lock may be taken under it.
    private readonly object _gate = new();
    private readonly Dictionary<string, CollabRoom> _rooms = new(StringComparer.Ordinal);

    /// <summary>Raised where the room raises its own; see <see cref="CollabClient.Changed"/>.</summary>
    public event Action<CollabRoom, EntryChange>? Changed;

    /// <summary>See <see cref="CollabClient.Posted"/>.</summary>
    public event Action<CollabRoom, Message>? Posted;

    /// <summary>See <see cref="CollabClient.PresenceChanged"/>.</summary>
    public event Action<CollabRoom, IReadOnlyList<PresenceEntry>>? PresenceChanged;

    /// <summary>See <see cref="CollabClient.Signaled"/>.</summary>
    public event Action<CollabRoom, SignalEvent>? Signaled;

    public Notifier Notifier => notifier;

    public ILogger Logger => logger;

    public int MaxMessages => options.MaxMessages;

    public int? SyncPageSize => options.SyncPageSize;

    public TimeSpan AnsweredSeqGrace => options.AnsweredSeqGrace;

    /// <summary>The open rooms, now.</summary>
    public IReadOnlyCollection<CollabRoom> All
    {
        get
        {
            lock (_gate)
            {
                return [.. _rooms.Values];
            }
        }
    }

    /// <summary>The open room with this id, or null.</summary>
    public CollabRoom? Get(string roomId)
    {
        lock (_gate)
        {
            return _rooms.GetValueOrDefault(roomId);
        }
    }

    /// <summary>See <see cref="CollabClient.OpenRoom"/>; <paramref name="roomId"/> is valid.</summary>
    public CollabRoom Open(string roomId)
    {
        CollabRoom room;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(loop.IsDisposed, typeof(CollabClient));
            if (_rooms.TryGetValue(roomId, out var open))
            {
                open.CancelLeave();
                return open;
            }
            room = new CollabRoom(this, roomId);
            _rooms[roomId] = room;
        }
        // Read after the room is in _rooms: a session that starts meanwhile either is seen here or attaches the room itself.
        if (loop.Session is { IsClosed: false } session)
        {
            room.Attach(session);
        }
        return room;
    }

    /// <summary>The room for writes loaded from the offline queue file: opened for them only, unless it is open.</summary>
    public CollabRoom OpenForLoadedWrites(string roomId)
    {
        lock (_gate)
        {
            if (!_rooms.TryGetValue(roomId, out var room))
            {
                // Left again once its writes are answered, unless the app opens it.
                room = new CollabRoom(this, roomId);
                _rooms[roomId] = room;
                _ = room.BeginLeave();
            }
            return room;
        }
    }

    /// <summary>Routes the room events of a new session's connection to the open rooms, which apply them.</summary>
    public void Route(CollabConnection connection, Session session)
    {
        connection.Changed += (roomId, entry) => Get(roomId)?.OnChanged(session, entry);
        connection.Posted += (roomId, message) => Get(roomId)?.OnPosted(session, message);
        connection.PresenceDelta += (roomId, delta) => Get(roomId)?.OnPresenceDelta(session, delta);
        connection.Signaled += (roomId, signal) => Get(roomId)?.OnSignaled(session, signal);
        connection.AccessChanged += (roomId, change) => Get(roomId)?.OnAccessChanged(session, change);
    }

    /// <summary>A session started: every open room joins again on it, from its replica's seq.</summary>
    public void Attach(Session session)
    {
        foreach (var room in All)
        {
            room.Attach(session);
        }
    }

    /// <summary>A session ended: the rooms stop taking its events.</summary>
    public void Detach(Session session)
    {
        foreach (var room in All)
        {
            room.Detach(session);
        }
    }

    /// <summary>Closes a room that is being left once it has no queued writes: it stops being a replica, and the server is told.</summary>
    public void FinishLeaveIfDone(CollabRoom room)
    {
        if (!room.IsLeaving || queue.HasWrites(room))
        {
            return;
        }
        IRoomChannel? joinedOn;
        lock (_gate)
        {
            // Under this lock, so Open can not call the leave off in between.
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
        notifier.Drain();
        if (joinedOn is Session session && ReferenceEquals(session, loop.Session) && !session.IsClosed)
        {
            session.Connection.LeaveAsync(room.RoomId).ContinueWith(_ => room.CompleteLeave(), TaskScheduler.Default);
        }
        else
        {
            room.CompleteLeave();
        }
    }

    /// <summary>The client is disposed: every room closes with <paramref name="disposed"/>.</summary>
    public void Close(ObjectDisposedException disposed)
    {
        foreach (var room in All)
        {
            room.TryClose(disposed, out _);
        }
    }

    public TimeSpan RetryDelay(int attempt) => backoff.Delay(attempt);

    public void RoomJoined(CollabRoom room, IRoomChannel channel) => queue.Pump();

    public void OnChanged(CollabRoom room, EntryChange change) => Changed?.Invoke(room, change);

    public void OnPosted(CollabRoom room, Message message) => Posted?.Invoke(room, message);

    public void OnPresenceChanged(CollabRoom room, IReadOnlyList<PresenceEntry> presence) => PresenceChanged?.Invoke(room, presence);

    public void OnSignaled(CollabRoom room, SignalEvent signal) => Signaled?.Invoke(room, signal);

    public void RoomRefused(CollabRoom room, CollabHubException error)
    {
        Log.RoomRefused(logger, room.RoomId, error.Code, error);
        CloseRoom(room, error);
    }

    public void ChannelFaulted(CollabRoom room, IRoomChannel channel, Exception error)
    {
        if (channel is Session session && !session.IsClosed)
        {
            Log.RoomFaulted(logger, room.RoomId, session, error);
            session.Abort(error);
        }
    }

    public Task<WriteResult> SetAsync(CollabRoom room, string key, JsonElement value, WriteOptions? options, CancellationToken cancellationToken) =>
        queue.SetAsync(room, key, value, options, cancellationToken);

    public Task<WriteResult> DeleteAsync(CollabRoom room, string key, WriteOptions? options, CancellationToken cancellationToken) =>
        queue.DeleteAsync(room, key, options, cancellationToken);

    public Task<BatchResult> BatchAsync(CollabRoom room, IReadOnlyList<BatchOp> ops, string? mutationId, CancellationToken cancellationToken) =>
        queue.BatchAsync(room, ops, mutationId, cancellationToken);

    public Task<PostResult> PostAsync(CollabRoom room, JsonElement body, string? mutationId, CancellationToken cancellationToken) =>
        queue.PostAsync(room, body, mutationId, cancellationToken);

    public async Task<bool> SignalAsync(CollabRoom room, JsonElement payload, CancellationToken cancellationToken)
    {
        var session = loop.Session;
        if (session is null || session.IsClosed || !room.IsJoinedOn(session))
        {
            return false; // signals are not queued: one made while the room is not joined is dropped
        }
        await session.Connection.SignalAsync(room.RoomId, payload, cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async Task LeaveAsync(CollabRoom room, CancellationToken cancellationToken)
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
        notifier.Drain();
        queue.FailRoom(room, error);
    }
}
