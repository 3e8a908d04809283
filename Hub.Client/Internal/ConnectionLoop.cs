using Microsoft.Extensions.Logging;

namespace CollabHub.Client.Internal;

/// <summary>
/// The connection side of a <see cref="CollabClient"/>: a loop that connects, and reconnects after every drop with
/// backoff, one <see cref="Session"/> per connection; the client's <see cref="CollabClientState"/> with the last error;
/// and the client's life (started, stopped, disposed). What each session means for the rooms and the writes is the
/// <see cref="ISessionListener"/>'s.
/// </summary>
internal sealed class ConnectionLoop(CollabClientOptions options, ILogger logger, Notifier notifier, Backoff backoff, ISessionListener listener)
{
    /// <summary>A connection that ends sooner than this after its start does not reset the backoff (no reconnect storm against a failing server).</summary>
    private static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the loop waits for a lost connection to close before it goes on. SignalR's client ends a Long Polling
    /// connection with a DELETE request, which on a dead network waits for its HTTP timeout (120 s); the close goes on
    /// in the background, and reconnecting must not wait for it.
    /// </summary>
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(5);

    // Guards the state, the run (_stop, _run, _connected, _runEnded), the current session's changes and _disposed.
    // Taken alone: nothing else is locked under it (the notifier's own lock aside).
    private readonly object _gate = new();
    private volatile Session? _session;
    private CollabClientState _state = CollabClientState.Disconnected;
    private CancellationTokenSource? _stop;
    private Task? _run;
    private TaskCompletionSource? _connected;
    private TaskCompletionSource? _runEnded;
    private long _epoch;
    private volatile bool _disposed;

    /// <summary>Raised through the notifier; see <see cref="CollabClient.StateChanged"/>.</summary>
    public event Action<CollabStateChange>? StateChanged;

    /// <summary>The session writes and calls go on now; null while not connected. Read without a lock.</summary>
    public Session? Session => _session;

    /// <summary>Whether the client was disposed: it takes no new rooms, writes or runs.</summary>
    public bool IsDisposed => _disposed;

    public CollabClientState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>Completes when the current run has connected; null before the first <see cref="Start"/>.</summary>
    public Task? Connected
    {
        get
        {
            lock (_gate)
            {
                return _connected?.Task;
            }
        }
    }

    /// <summary>Completes when the current run ends (stopped, or the retry policy gave up); null when no run is going.</summary>
    public Task? RunEnded
    {
        get
        {
            lock (_gate)
            {
                return _run is null ? null : _runEnded?.Task;
            }
        }
    }

    /// <summary>See <see cref="CollabClient.Start"/>.</summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(CollabClient));
            if (_run is not null)
            {
                return;
            }
            _stop?.Dispose();
            _stop = new CancellationTokenSource();
            _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _runEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            SetState(CollabClientState.Connecting, null);
            var stop = _stop.Token;
            var connected = _connected;
            var ended = _runEnded;
            _run = Task.Run(() => RunAsync(stop, connected, ended));
        }
        notifier.Drain();
    }

    /// <summary>Stops the run, if one is going, and waits until it has ended.</summary>
    public async Task StopAsync()
    {
        Task? run;
        lock (_gate)
        {
            run = _run;
            _stop?.Cancel();
        }
        if (run is not null)
        {
            await run.ConfigureAwait(false);
            lock (_gate)
            {
                if (ReferenceEquals(_run, run))
                {
                    _run = null;
                    _stop?.Dispose();
                    _stop = null;
                }
            }
        }
    }

    /// <summary>Marks the client disposed; false when it was already.</summary>
    public bool TryMarkDisposed()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return false;
            }
            _disposed = true;
            return true;
        }
    }

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
                var connection = new CollabConnection(options);
                var session = new Session(connection, Interlocked.Increment(ref _epoch));
                listener.SessionOpening(connection, session);
                connection.Closed += error => session.Abort(error ?? new ServerClosedException());
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
                    if (options.ReconnectMaxAttempts is { } max && failures >= max)
                    {
                        Log.GaveUp(logger, options.Url!, failures, error);
                        connected.TrySetException(error);
                        return;
                    }
                    wait = backoff.Delay(backoffStep);
                    Log.ConnectFailed(logger, failures, options.Url!, wait, error);
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
                wait = lost is ServerClosedException && stable ? TimeSpan.Zero : backoff.Delay(backoffStep);
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
            notifier.Drain();
        }
    }

    private void OnSessionStarted(Session session)
    {
        lock (_gate)
        {
            _session = session;
            SetState(CollabClientState.Connected, null);
        }
        Log.Connected(logger, options.Url!, session);
        notifier.Drain();
        listener.SessionStarted(session);
    }

    private void OnSessionEnded(Session session, Exception? error, bool stopping)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_session, session))
            {
                _session = null;
            }
            if (!stopping)
            {
                SetState(CollabClientState.Reconnecting, error);
            }
        }
        if (!stopping)
        {
            Log.ConnectionLost(logger, session, error);
        }
        listener.SessionEnded(session);
        notifier.Drain();
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
        notifier.Post(() => StateChanged?.Invoke(change));
    }

    private void SetStateAndRaise(CollabClientState state, Exception? error, bool again = false)
    {
        lock (_gate)
        {
            SetState(state, error, again);
        }
        notifier.Drain();
    }
}
