namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// Counters an operator wants from the Redis client, cumulative since it started; cheap to read at any time
/// (each a separate atomic read, not a consistent snapshot), ready to be exported as metrics.
/// </summary>
internal sealed class RedisClientStats
{
    private long _commandsSent;
    private long _commandsRejected;
    private long _messagesReceived;
    private long _handlerFailures;
    private long _connectionsLost;
    private long _reconnects;
    private long _failedConnectAttempts;

    /// <summary>Commands accepted for sending, on both connections (handshakes and keep-alive pings included).</summary>
    public long CommandsSent => Interlocked.Read(ref _commandsSent);

    /// <summary>Commands refused at once because a connection was at its pending-command or outgoing-byte limit.</summary>
    public long CommandsRejectedForBackpressure => Interlocked.Read(ref _commandsRejected);

    /// <summary>Pub/sub messages received on subscribed channels.</summary>
    public long MessagesReceived => Interlocked.Read(ref _messagesReceived);

    /// <summary>Times a subscription's handler threw.</summary>
    public long HandlerFailures => Interlocked.Read(ref _handlerFailures);

    /// <summary>Times an established connection was lost (an outage began).</summary>
    public long ConnectionsLost => Interlocked.Read(ref _connectionsLost);

    /// <summary>Times the client connected again after an outage (or after failing its first attempts).</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Connect attempts that failed (each attempt covers both connections and the handshake).</summary>
    public long FailedConnectAttempts => Interlocked.Read(ref _failedConnectAttempts);

    internal void CommandSent() => Interlocked.Increment(ref _commandsSent);

    internal void CommandRejected() => Interlocked.Increment(ref _commandsRejected);

    internal void MessageReceived() => Interlocked.Increment(ref _messagesReceived);

    internal void HandlerFailed() => Interlocked.Increment(ref _handlerFailures);

    internal void ConnectionLost() => Interlocked.Increment(ref _connectionsLost);

    internal void Reconnected() => Interlocked.Increment(ref _reconnects);

    internal void ConnectAttemptFailed() => Interlocked.Increment(ref _failedConnectAttempts);

    public override string ToString() =>
        $"sent={CommandsSent} rejected={CommandsRejectedForBackpressure} messages={MessagesReceived} handlerFailures={HandlerFailures} " +
        $"lost={ConnectionsLost} reconnects={Reconnects} failedAttempts={FailedConnectAttempts}";
}
