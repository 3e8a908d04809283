using CollabHub.Client.Internal;
using CollabHub.Protocol;

namespace CollabHub.Client;

// CollabClient: the connection loop: connect, reconnect with backoff, sessions and state.
public sealed partial class CollabClient
{
    /// <summary>
    /// How long the loop waits for a lost connection to close before it goes on. SignalR's client ends a Long Polling
    /// connection with a DELETE request, which on a dead network waits for its HTTP timeout (120 s); the close goes on
    /// in the background, and reconnecting must not wait for it.
    /// </summary>
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(5);

    private async Task RunAsync(CancellationToken stop, TaskCompletionSource connected, TaskCompletionSource ended)
    {
        var failures = 0;
        var backoffStep = 0;
        var wait = TimeSpan.Zero;
        Exception? lastError = null;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, stop).ConfigureAwait(false);
                }
                var connection = new CollabConnection(_options);
                var session = new Session(connection, Interlocked.Increment(ref _epoch));
                Wire(connection, session);
                try
                {
                    await connection.StartAsync(stop).ConfigureAwait(false);
                }
                catch (Exception error)
                {
                    await DisposeQuietlyAsync(connection).ConfigureAwait(false);
                    if (stop.IsCancellationRequested)
                    {
                        break;
                    }
                    failures++;
                    backoffStep++;
                    lastError = error;
                    if (_options.ReconnectMaxAttempts is { } max && failures >= max)
                    {
                        Log.GaveUp(_logger, _options.Url!, failures, error);
                        connected.TrySetException(error);
                        return;
                    }
                    wait = _backoff.Delay(backoffStep);
                    Log.ConnectFailed(_logger, failures, _options.Url!, wait, error);
                    // Raised for every failed attempt, Reconnecting again included: its error is why the app is offline.
                    SetStateAndRaise(CollabClientState.Reconnecting, error, again: true);
                    continue;
                }

                failures = 0;
                var up = System.Diagnostics.Stopwatch.StartNew();
                OnSessionStarted(session);
                connected.TrySetResult();
                Exception? lost;
                using (stop.Register(() => session.Abort(null)))
                {
                    lost = await session.Closed.ConfigureAwait(false);
                }
                OnSessionEnded(session, lost, stopping: stop.IsCancellationRequested);
                await DisposeQuietlyAsync(connection).ConfigureAwait(false);
                var stable = up.Elapsed >= StableAfter;
                backoffStep = stable ? 1 : backoffStep + 1;
                // A server that closed a stable connection on purpose (draining for a restart) means "reconnect now";
                // one that keeps closing new connections gets the backoff.
                wait = lost is ServerClosedException && stable ? TimeSpan.Zero : _backoff.Delay(backoffStep);
                lastError = lost;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped during a backoff wait.
        }
        finally
        {
            connected.TrySetCanceled();
            lock (_gate)
            {
                SetState(CollabClientState.Disconnected, stop.IsCancellationRequested ? null : lastError);
                if (!stop.IsCancellationRequested)
                {
                    // The policy gave up: a later Start begins a new run.
                    _run = null;
                }
            }
            ended.TrySetResult();
            _notifier.Drain();
        }
    }

    private void Wire(CollabConnection connection, Session session)
    {
        connection.Changed += (roomId, entry) => GetRoom(roomId)?.OnChanged(session, entry);
        connection.Posted += (roomId, message) => GetRoom(roomId)?.OnPosted(session, message);
        connection.PresenceDelta += (roomId, delta) => GetRoom(roomId)?.OnPresenceDelta(session, delta);
        connection.Signaled += (roomId, signal) => GetRoom(roomId)?.OnSignaled(session, signal);
        connection.AccessChanged += (roomId, change) => GetRoom(roomId)?.OnAccessChanged(session, change);
        connection.Closed += error => session.Abort(error ?? new ServerClosedException());
    }

    private void OnSessionStarted(Session session)
    {
        List<CollabRoom> rooms;
        lock (_gate)
        {
            _session = session;
            rooms = [.. _rooms.Values];
            SetState(CollabClientState.Connected, null);
        }
        Log.Connected(_logger, _options.Url!, session);
        _notifier.Drain();
        foreach (var room in rooms)
        {
            room.Attach(session);
        }
        Pump();
    }

    private void OnSessionEnded(Session session, Exception? error, bool stopping)
    {
        List<CollabRoom> rooms;
        lock (_gate)
        {
            if (ReferenceEquals(_session, session))
            {
                _session = null;
            }
            rooms = [.. _rooms.Values];
            if (!stopping)
            {
                SetState(CollabClientState.Reconnecting, error);
            }
        }
        if (!stopping)
        {
            Log.ConnectionLost(_logger, session, error);
        }
        foreach (var room in rooms)
        {
            room.Detach(session);
        }
        lock (_queueGate)
        {
            foreach (var write in _queue)
            {
                if (ReferenceEquals(write.InFlight, session))
                {
                    write.InFlight = null;
                }
            }
        }
        _notifier.Drain();
    }

    private static async Task DisposeQuietlyAsync(CollabConnection connection)
    {
        try
        {
            await connection.DisposeAsync().AsTask().WaitAsync(CloseWait).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A connection that failed may fail to close as well, or take its time (see CloseWait); it is gone either way.
        }
    }

    /// <summary>
    /// Under <see cref="_gate"/>: changes the state and posts <see cref="StateChanged"/>; with <paramref name="again"/>,
    /// posts it for an unchanged state too (a new reason).
    /// </summary>
    private void SetState(CollabClientState state, Exception? error, bool again = false)
    {
        var previous = _state;
        if (previous == state && !again)
        {
            return;
        }
        _state = state;
        var change = new CollabStateChange(previous, state, error);
        _notifier.Post(() => StateChanged?.Invoke(change));
    }

    private void SetStateAndRaise(CollabClientState state, Exception? error, bool again = false)
    {
        lock (_gate)
        {
            SetState(state, error, again);
        }
        _notifier.Drain();
    }
}
