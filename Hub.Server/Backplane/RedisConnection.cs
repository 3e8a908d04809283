using System.Diagnostics;
using CollabHub.Server.Configuration;
using StackExchange.Redis;

namespace CollabHub.Server.Backplane;

/// <summary>
/// This process's one StackExchange.Redis <see cref="ConnectionMultiplexer"/>, shared by the backplane (ours or the
/// stock one), presence, the cluster bus and <c>/readyz</c>. A Redis outage is a state, not a start-up failure: the
/// multiplexer is created in the background (<c>AbortOnConnectFail = false</c>; its first attempt can take
/// <c>connectTimeout</c>), so the server starts and serves locally without Redis, and the multiplexer reconnects and
/// subscribes again by itself. Until it exists, this counts as disconnected and subscription changes wait, in call
/// order, for it. An outage is logged once when it begins and once when it ends.
/// </summary>
/// <remarks>
/// <para>
/// <b>Fail fast where we promise it.</b> The multiplexer keeps commands issued while it is disconnected in a backlog
/// for up to its timeout (5 s by default) and sends them when it is back. Our callers do not want that: a publish or a
/// presence change made during an outage must fail at once and let local delivery go on. So
/// <see cref="PublishAsync"/> fails at once while <see cref="IsConnected"/> is false or when
/// <see cref="BackplaneOptions.MaxPendingPublishes"/> are already on their way, and presence checks
/// <see cref="IsConnected"/> first. The stock backplane keeps the multiplexer's behaviour (docs/operations.md).
/// </para>
/// <para>
/// <b>Ordered subscriptions.</b> StackExchange.Redis runs handler-style subscriptions without any ordering guarantee;
/// only a <see cref="ChannelMessageQueue"/> delivers one channel's messages in order, one at a time.
/// <see cref="SubscribeAsync"/> always uses one.
/// </para>
/// </remarks>
internal sealed partial class RedisConnection : IAsyncDisposable
{
    private readonly Task<ConnectionMultiplexer> _connecting;
    private readonly Lock _lock = new();
    private readonly ILogger<RedisConnection> _logger;
    private List<Action<ISubscriber>>? _beforeConnected = [];
    private volatile ConnectionMultiplexer? _multiplexer;
    private ISubscriber? _subscriber;
    private IDatabase? _database;
    private readonly int _maxPendingPublishes;
    private int _pendingPublishes;
    private long _handlerFailures;
    private int _down;
    private long _downSince;

    public RedisConnection(ConfigurationOptions configuration, BackplaneOptions options, ILogger<RedisConnection> logger)
    {
        _logger = logger;
        _maxPendingPublishes = options.MaxPendingPublishes;
        Description = configuration.ToString(includePassword: false);
        _connecting = ConnectAsync(configuration);
    }

    /// <summary>The configuration string with the password masked, for logs.</summary>
    public string Description { get; }

    /// <summary>Commands on the configuration's <c>defaultDatabase</c>; check <see cref="IsConnected"/> first.</summary>
    public IDatabase Database => _database ?? throw new RedisUnavailableException($"Not connected to Redis at {Description} yet.");

    /// <summary>Both the command and the subscription connection are up.</summary>
    public bool IsConnected => _multiplexer is { } multiplexer && multiplexer.IsConnected && _subscriber!.IsConnected();

    /// <summary>
    /// The shared multiplexer once its first connect attempt is over, connected or not (the stock backplane's
    /// <c>ConnectionFactory</c>).
    /// </summary>
    public async Task<IConnectionMultiplexer> GetMultiplexerAsync() => await _connecting;

    /// <summary>
    /// Publishes a message. Fails at once with <see cref="RedisUnavailableException"/> while Redis is unreachable or
    /// when <see cref="BackplaneOptions.MaxPendingPublishes"/> publishes are still unanswered; otherwise with what
    /// StackExchange.Redis reports (<see cref="RedisUnavailableException.IsRedisFailure"/> tells them apart).
    /// </summary>
    public async Task PublishAsync(string channel, byte[] message)
    {
        if (!IsConnected)
        {
            throw new RedisUnavailableException($"Not connected to Redis at {Description}; reconnecting in the background.");
        }
        if (Interlocked.Increment(ref _pendingPublishes) > _maxPendingPublishes)
        {
            Interlocked.Decrement(ref _pendingPublishes);
            throw new RedisUnavailableException(
                $"{_maxPendingPublishes} publishes to Redis are still unanswered (CollabHub:Backplane:MaxPendingPublishes); dropped this one.");
        }
        try
        {
            await _subscriber!.PublishAsync(RedisChannel.Literal(channel), message);
        }
        finally
        {
            Interlocked.Decrement(ref _pendingPublishes);
        }
    }

    /// <summary>
    /// Subscribes <paramref name="handler"/> to a channel (exact name, under the configured channel prefix). Messages
    /// arrive in the order they were published, one at a time; the payload is valid only during the call. The
    /// subscription is registered at once and kept across reconnects. While connected, the task completes when
    /// Redis has confirmed it (a publish after that reaches it); while not, at once (the reconnect subscribes it).
    /// </summary>
    public async Task SubscribeAsync(string channel, Action<ReadOnlyMemory<byte>> handler)
    {
        // Fire-and-forget returns the queue at once, connected or not; the multiplexer re-subscribes it after a reconnect.
        void Subscribe(ISubscriber subscriber) =>
            subscriber.Subscribe(RedisChannel.Literal(channel), CommandFlags.FireAndForget).OnMessage(message => Handle(channel, handler, message));
        if (Defer(Subscribe))
        {
            return;
        }
        Subscribe(_subscriber!);
        if (IsConnected)
        {
            try
            {
                // A PING on the subscription connection is answered after the SUBSCRIBE sent before it.
                await _subscriber!.PingAsync();
            }
            catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
            {
                // Dropped meanwhile: the reconnect subscribes it.
            }
        }
    }

    /// <summary>Stops delivery of a channel at once and tells Redis without waiting.</summary>
    public void Unsubscribe(string channel)
    {
        void Unsubscribe(ISubscriber subscriber) => subscriber.Unsubscribe(RedisChannel.Literal(channel), handler: null, CommandFlags.FireAndForget);
        if (!Defer(Unsubscribe))
        {
            Unsubscribe(_subscriber!);
        }
    }

    /// <summary>
    /// The container disposes it after the hosted services have stopped (presence's goodbye still reaches Redis). The
    /// stock backplane disposes the multiplexer too, before this; a second dispose does nothing.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        var multiplexer = await _connecting;
        await multiplexer.DisposeAsync();
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(ConfigurationOptions configuration)
    {
        var connectLog = new StringWriter();
        // With AbortOnConnectFail off this does not throw for an unreachable Redis; it returns after the first attempt.
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration, connectLog);
        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        _subscriber = multiplexer.GetSubscriber();
        _database = multiplexer.GetDatabase();
        lock (_lock)
        {
            // Fire-and-forget subscription changes: quick, and in the order they were asked for, before any later one.
            foreach (var change in _beforeConnected!)
            {
                change(_subscriber);
            }
            _beforeConnected = null;
            _multiplexer = multiplexer;
        }
        if (IsConnected)
        {
            LogConnected(Description);
        }
        else
        {
            MarkDown();
            LogUnreachableAtStart(Description, ConnectFailures(connectLog.ToString(), configuration.Password));
        }
        return multiplexer;
    }

    /// <summary>Keeps a subscription change for when the multiplexer exists; false once it does (make the change now).</summary>
    private bool Defer(Action<ISubscriber> change)
    {
        if (_multiplexer is not null)
        {
            return false;
        }
        lock (_lock)
        {
            if (_beforeConnected is null)
            {
                return false;
            }
            _beforeConnected.Add(change);
            return true;
        }
    }

    private void Handle(string channel, Action<ReadOnlyMemory<byte>> handler, ChannelMessage message)
    {
        try
        {
            handler((ReadOnlyMemory<byte>)message.Message);
        }
        catch (Exception ex)
        {
            // The queue's loop must go on with the channel's next message. Logged at failures 1, 2, 4, 8, ...
            var failures = Interlocked.Increment(ref _handlerFailures);
            if ((failures & (failures - 1)) == 0)
            {
                LogHandlerFailed(ex, channel, failures);
            }
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (MarkDown())
        {
            LogLost(Description, e.ConnectionType, Reason(e));
        }
        else
        {
            LogFailedAgain(e.ConnectionType, Reason(e));
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (IsConnected && Interlocked.CompareExchange(ref _down, 0, 1) == 1)
        {
            LogRestored(Description, Stopwatch.GetElapsedTime(Interlocked.Read(ref _downSince)).TotalSeconds);
        }
    }

    /// <summary>True for the failure that starts an outage.</summary>
    private bool MarkDown()
    {
        if (Interlocked.CompareExchange(ref _down, 1, 0) != 0)
        {
            return false;
        }
        Interlocked.Exchange(ref _downSince, Stopwatch.GetTimestamp());
        return true;
    }

    private static string Reason(ConnectionFailedEventArgs e) =>
        e.Exception?.InnerException is { } inner ? $"{e.FailureType}: {inner.Message}" : e.FailureType.ToString();

    /// <summary>The failure lines of StackExchange.Redis's connect log (e.g. NOAUTH, WRONGPASS, refused), the password masked.</summary>
    private static string ConnectFailures(string log, string? password)
    {
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => line.Contains("failed", StringComparison.OrdinalIgnoreCase) || line.Contains("Error:", StringComparison.Ordinal))
            .Select(line => line.Length > 200 ? line[..200] + "…" : line)
            .Distinct()
            .Take(4);
        var text = string.Join(" | ", lines);
        return string.IsNullOrEmpty(password) ? text : text.Replace(password, "*****", StringComparison.Ordinal);
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Connected to Redis at {Redis}")]
    private partial void LogConnected(string redis);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Cannot reach Redis at {Redis}: {Reason}. Serving local clients; connecting in the background")]
    private partial void LogUnreachableAtStart(string redis, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Lost the connection to Redis at {Redis} ({Connection}: {Reason}). Reconnecting in the background")]
    private partial void LogLost(string redis, ConnectionType connection, string reason);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "Reconnected to Redis at {Redis} after an outage of {OutageSeconds:0.0} s")]
    private partial void LogRestored(string redis, double outageSeconds);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Debug, Message = "Redis {Connection} connection failed during an outage: {Reason}")]
    private partial void LogFailedAgain(ConnectionType connection, string reason);

    [LoggerMessage(EventId = 4030, Level = LogLevel.Error, Message = "The handler of Redis channel {Channel} threw (failure {Failures} of subscription handlers; logged at powers of two)")]
    private partial void LogHandlerFailed(Exception exception, string channel, long failures);
}

/// <summary>Redis could not take a command now (unreachable, or too much already on its way); nothing was sent.</summary>
internal sealed class RedisUnavailableException(string message) : Exception(message)
{
    /// <summary>Whether <paramref name="exception"/> means Redis did not do it: unreachable, timed out, refused, or shut down.</summary>
    public static bool IsRedisFailure(Exception exception) =>
        exception is RedisUnavailableException or RedisException or RedisTimeoutException or ObjectDisposedException;
}
