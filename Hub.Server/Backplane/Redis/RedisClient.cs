namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// The Redis client the backplane uses: one pipelined connection for commands, one for pub/sub, and a background
/// loop that keeps both up. A Redis outage is a state, not an exception at start-up: the client starts without
/// Redis, commands fail fast while it is away, and when it returns the client reconnects and subscribes again to
/// every channel it was asked for.
/// </summary>
/// <remarks>
/// <para>
/// <b>Reconnecting.</b> When either connection drops, both are replaced (they are one unit: <see cref="IsConnected"/>
/// means both are up). Attempts are spaced by exponential backoff with full jitter: a random wait between 0 and
/// <see cref="RedisConnectionOptions.ReconnectDelay"/> doubled per failed attempt, capped at
/// <see cref="RedisConnectionOptions.ReconnectMaxDelay"/>, so many instances do not stampede a Redis that restarts.
/// An outage is logged once when it begins (Warning, with the reason) and once when it ends (Information, with its
/// length and number of attempts); the attempts in between only at Debug level.
/// </para>
/// <para>
/// <b>Commands</b> go through <see cref="RedisConnection"/>, with its limits: beyond them a command fails at once
/// with <see cref="RedisBackpressureException"/>. While disconnected, a command fails at once with
/// <see cref="RedisConnectionException"/>; commands in flight when a connection drops fail with it too (they may or
/// may not have been carried out). Nothing is retried here: the caller knows whether a retry is safe.
/// </para>
/// <para>
/// <b>Subscriptions</b> are remembered: what was subscribed is subscribed again after every reconnect, before
/// <see cref="IsConnected"/> turns true. Messages published while disconnected are lost (Redis pub/sub keeps
/// nothing); the backplane's protocol must tolerate that. Handlers and <see cref="ConnectionChanged"/> run on the
/// client's loops and must not block (see <see cref="RedisSubscriber"/>).
/// </para>
/// </remarks>
internal sealed partial class RedisClient : IAsyncDisposable
{
    /// <summary>Channels per SUBSCRIBE command when subscribing again after a reconnect.</summary>
    private const int ResubscribeBatchSize = 1000;

    /// <summary>A connection that lasted less than this before dropping does not reset the backoff: a flapping Redis is not hammered.</summary>
    private static readonly TimeSpan StableConnection = TimeSpan.FromSeconds(10);

    private readonly RedisConnectionOptions _options;
    private readonly IRedisStreamFactory _streams;
    private readonly ILogger<RedisClient> _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // What callers asked to be subscribed to, and the live subscriber; changed together under the lock so that
    // the SUBSCRIBE and UNSUBSCRIBE commands reach Redis in the order the calls were made.
    private readonly Lock _subscriptionLock = new();
    private readonly Dictionary<string, Action<string, ReadOnlyMemory<byte>>> _subscriptions = new(StringComparer.Ordinal);
    private RedisSubscriber? _subscriber;

    private volatile RedisConnection? _commands;
    private volatile bool _connected;
    private Task _loop = Task.CompletedTask;
    private int _started;
    private int _disposed;

    public RedisClient(RedisConnectionOptions options, IRedisStreamFactory streams, ILogger<RedisClient> logger, TimeProvider time)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _streams = streams ?? throw new ArgumentNullException(nameof(streams));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _time = time ?? throw new ArgumentNullException(nameof(time));
    }

    /// <summary>Raised on every change of <see cref="IsConnected"/> (true: connected). Runs on the client's loop: must not block.</summary>
    public event Action<bool>? ConnectionChanged;

    /// <summary>Both connections are up, handshaken, and every remembered channel is subscribed.</summary>
    public bool IsConnected => _connected;

    public RedisConnectionOptions Options => _options;

    public RedisClientStats Stats { get; } = new();

    /// <summary>
    /// Starts connecting in the background and returns after the first attempt, whether it succeeded or not: a
    /// server can start while Redis is down. Throws only if <paramref name="cancellationToken"/> is cancelled first.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The Redis client is already started.");
        }
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return _firstAttempt.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Sends a command on the command connection; completes with the reply. Fails with <see cref="RedisServerException"/>
    /// for an error reply, <see cref="RedisConnectionException"/> at once when not connected (or when the connection
    /// drops before the reply), and <see cref="RedisBackpressureException"/> at once when the connection is full.
    /// </summary>
    public Task<RespValue> ExecuteAsync(string command, params ReadOnlySpan<RedisArg> args)
    {
        var commands = _commands;
        if (commands is null)
        {
            return Task.FromException<RespValue>(new RedisConnectionException(Volatile.Read(ref _disposed) != 0
                ? "The Redis client is disposed."
                : $"Not connected to Redis at {_options}; reconnecting in the background."));
        }
        return commands.ExecuteAsync(command, args);
    }

    /// <summary>PUBLISH: sends a message to a channel; returns how many subscribers (across all clients) Redis delivered it to.</summary>
    public async Task<long> PublishAsync(string channel, ReadOnlyMemory<byte> message)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var reply = await ExecuteAsync("PUBLISH", channel, message);
        return reply.AsInt64();
    }

    /// <summary>
    /// Subscribes <paramref name="handler"/> to a channel (exact name; one handler per channel, a second call
    /// replaces it) and remembers it, so it is subscribed again after every reconnect. Completes when Redis has
    /// acknowledged; when disconnected, completes at once (the reconnect will subscribe it). Fails only with
    /// <see cref="RedisBackpressureException"/>, in which case nothing changed. The handler runs on the subscriber's
    /// reader loop: it must not block, and the payload is valid only during the call (copy it to keep it).
    /// </summary>
    public async Task SubscribeAsync(string channel, Action<string, ReadOnlyMemory<byte>> handler)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(handler);
        var acknowledged = Subscribe(channel, handler);
        try
        {
            await acknowledged;
        }
        catch (RedisConnectionException)
        {
            // Remembered: the reconnect that follows the drop subscribes it.
        }
    }

    /// <summary>
    /// Unsubscribes a channel and forgets it; no message of it is delivered after this call. Completes when Redis
    /// has acknowledged, or at once when disconnected. If the subscriber connection is full it fails with
    /// <see cref="RedisBackpressureException"/>: delivery has stopped all the same, but Redis keeps sending the
    /// channel's messages (which are dropped) until the next reconnect or a successful retry.
    /// </summary>
    public async Task UnsubscribeAsync(string channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var acknowledged = Unsubscribe(channel);
        try
        {
            await acknowledged;
        }
        catch (RedisConnectionException)
        {
            // Forgotten: the reconnect will not subscribe it, and a new connection starts with no subscriptions.
        }
    }

    /// <summary>Stops reconnecting and closes both connections; pending commands fail with <see cref="RedisConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping.Cancel();
        await _loop; // it closes its connections on the way out
        _firstAttempt.TrySetResult();
        _stopping.Dispose();
    }

    /// <summary>For tests: drops the live connections as a network failure would.</summary>
    internal void AbortConnections(Exception reason)
    {
        _commands?.Abort(reason);
        lock (_subscriptionLock)
        {
            _subscriber?.Abort(reason);
        }
    }

    private Task Subscribe(string channel, Action<string, ReadOnlyMemory<byte>> handler)
    {
        lock (_subscriptionLock)
        {
            var hadPrevious = _subscriptions.TryGetValue(channel, out var previous);
            _subscriptions[channel] = handler;
            if (_subscriber is not { } subscriber)
            {
                return Task.CompletedTask;
            }
            var acknowledged = subscriber.SubscribeAsync(channel, handler);
            if (acknowledged.IsFaulted && acknowledged.Exception!.InnerException is RedisBackpressureException)
            {
                // Not sent: the caller learns it is not subscribed, and a later reconnect must not quietly do it.
                if (hadPrevious)
                {
                    _subscriptions[channel] = previous!;
                }
                else
                {
                    _subscriptions.Remove(channel);
                }
            }
            return acknowledged;
        }
    }

    private Task Unsubscribe(string channel)
    {
        lock (_subscriptionLock)
        {
            _subscriptions.Remove(channel);
            return _subscriber?.UnsubscribeAsync(channel) ?? Task.CompletedTask;
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var stopped = Task.Delay(Timeout.InfiniteTimeSpan, stopping);
        var everConnected = false;
        var outageStarted = (long?)null;
        var failedAttempts = 0; // in this outage, for the log
        var backoffStep = 0;    // grows while attempts fail or connections do not last
        while (!stopping.IsCancellationRequested)
        {
            RedisConnection? commands = null;
            RedisSubscriber? subscriber = null;
            try
            {
                commands = await RedisConnection.ConnectAsync(_options, _streams, _logger, _time, Stats, role: "commands", cancellationToken: stopping);
                subscriber = await RedisSubscriber.ConnectAsync(_options, _streams, _logger, _time, Stats, stopping);
                await ResubscribeAsync(subscriber, stopping);
            }
            catch (Exception ex)
            {
                await CloseAsync(commands, subscriber);
                if (stopping.IsCancellationRequested)
                {
                    break;
                }
                failedAttempts++;
                backoffStep++;
                Stats.ConnectAttemptFailed();
                var delay = NextDelay(backoffStep);
                if (outageStarted is null)
                {
                    outageStarted = _time.GetTimestamp();
                    LogUnreachable(_options.ToString(), Reason(ex));
                }
                else
                {
                    LogAttemptFailed(failedAttempts, Reason(ex), delay.TotalMilliseconds);
                }
                _firstAttempt.TrySetResult();
                if (!await DelayAsync(delay, stopping))
                {
                    break;
                }
                continue;
            }

            var connectedAt = _time.GetTimestamp();
            _commands = commands;
            SetConnected(true);
            if (outageStarted is { } started)
            {
                Stats.Reconnected();
                LogReconnected(_options.ToString(), _time.GetElapsedTime(started).TotalSeconds, failedAttempts);
            }
            else if (!everConnected)
            {
                LogConnected(_options.ToString());
            }
            everConnected = true;
            outageStarted = null;
            failedAttempts = 0;
            _firstAttempt.TrySetResult();

            var ended = await Task.WhenAny(commands.Closed, subscriber.Closed, stopped);
            _commands = null;
            SetConnected(false);
            var reason = ended == stopped ? new RedisConnectionException("The Redis client is disposed.") : ((Task<Exception>)ended).Result;
            // The pair goes down together, and what was pending on the other connection fails with the real cause.
            commands.Abort(reason);
            subscriber.Abort(reason);
            await CloseAsync(commands, subscriber);
            if (stopping.IsCancellationRequested)
            {
                break;
            }
            Stats.ConnectionLost();
            outageStarted = _time.GetTimestamp();
            LogConnectionLost(_options.ToString(), reason.Message);
            if (_time.GetElapsedTime(connectedAt) >= StableConnection)
            {
                backoffStep = 0;
            }
            // Wait a little even the first time (0 to ReconnectDelay): a Redis that is restarting is not ready yet.
            if (!await DelayAsync(NextDelay(++backoffStep), stopping))
            {
                break;
            }
        }
        _commands = null;
        SetConnected(false);
    }

    // Publishes the new subscriber and subscribes every remembered channel on it, in batches, under the lock: a
    // Subscribe or Unsubscribe racing with this either is in the snapshot or is sent after it, never lost.
    private async Task ResubscribeAsync(RedisSubscriber subscriber, CancellationToken stopping)
    {
        Task[] acknowledged;
        lock (_subscriptionLock)
        {
            _subscriber = subscriber;
            acknowledged = [.. _subscriptions.Chunk(ResubscribeBatchSize).Select(batch => subscriber.SubscribeAsync(batch))];
        }
        try
        {
            await Task.WhenAll(acknowledged).WaitAsync(_options.ConnectTimeout, _time, stopping);
        }
        catch (TimeoutException)
        {
            throw new RedisConnectionException($"Redis did not acknowledge the subscriptions within {_options.ConnectTimeout.TotalMilliseconds:0} ms.");
        }
    }

    private async Task CloseAsync(RedisConnection? commands, RedisSubscriber? subscriber)
    {
        lock (_subscriptionLock)
        {
            if (ReferenceEquals(_subscriber, subscriber))
            {
                _subscriber = null;
            }
        }
        if (commands is not null)
        {
            await commands.DisposeAsync();
        }
        if (subscriber is not null)
        {
            await subscriber.DisposeAsync();
        }
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stopping)
    {
        try
        {
            await Task.Delay(delay, _time, stopping);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    // Full jitter: uniformly random between zero and the exponential ceiling.
    private TimeSpan NextDelay(int step)
    {
        var ceiling = Math.Min(
            _options.ReconnectMaxDelay.TotalMilliseconds,
            _options.ReconnectDelay.TotalMilliseconds * Math.Pow(2, Math.Min(step - 1, 30)));
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
    }

    private void SetConnected(bool connected)
    {
        if (_connected == connected)
        {
            return;
        }
        _connected = connected;
        if (ConnectionChanged is not { } handlers)
        {
            return;
        }
        foreach (var handler in handlers.GetInvocationList().Cast<Action<bool>>())
        {
            try
            {
                handler(connected);
            }
            catch (Exception ex)
            {
                LogConnectionChangedFailed(ex, connected);
            }
        }
    }

    private static string Reason(Exception ex) => ex is AggregateException { InnerExceptions.Count: 1 } single ? single.InnerExceptions[0].Message : ex.Message;

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Connected to Redis at {Redis}")]
    private partial void LogConnected(string redis);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Cannot reach Redis at {Redis}: {Reason}. Retrying in the background; further failures are logged at Debug level until it is back")]
    private partial void LogUnreachable(string redis, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Lost the connection to Redis at {Redis}: {Reason}. Reconnecting in the background")]
    private partial void LogConnectionLost(string redis, string reason);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "Reconnected to Redis at {Redis} after an outage of {OutageSeconds:0.0} s and {FailedAttempts} failed attempts")]
    private partial void LogReconnected(string redis, double outageSeconds, int failedAttempts);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Debug, Message = "Redis connect attempt {Attempt} failed: {Reason}; next attempt in {DelayMs:0} ms")]
    private partial void LogAttemptFailed(int attempt, string reason, double delayMs);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Error, Message = "A handler of RedisClient.ConnectionChanged({Connected}) threw")]
    private partial void LogConnectionChangedFailed(Exception exception, bool connected);
}
