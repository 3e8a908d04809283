using System.Collections.Concurrent;
using System.Text;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// A connection of its own in Redis's subscribe mode (where a connection can do nothing but subscribe), delivering
/// messages of exact channel names to one handler per channel.
/// </summary>
/// <remarks>
/// <para>
/// <b>Handlers run on the connection's reader loop</b>, one message at a time, in the order Redis delivers them.
/// A handler must not block or do slow work (every channel's delivery waits for it): hand the message off. The
/// payload it is given is a view of the read buffer, <b>valid only during the call</b>: copy it to keep it. A
/// handler that throws is logged and counted; delivery goes on.
/// </para>
/// <para>
/// Subscribing and unsubscribing complete when Redis has acknowledged them, so a message published after
/// <see cref="SubscribeAsync"/> completes is received. Unsubscribing stops delivery at once, even before the
/// acknowledgement. This object lives as long as its connection: <see cref="RedisClient"/> makes a new one after
/// a reconnect and subscribes its channels again.
/// </para>
/// </remarks>
internal sealed partial class RedisSubscriber : IAsyncDisposable
{
    private const int MaxStackChannelBytes = 256;

    private readonly ConcurrentDictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Subscription>.AlternateLookup<ReadOnlySpan<char>> _byName;
    private readonly Lock _sync = new();
    private readonly ILogger _logger;
    private readonly RedisClientStats? _stats;
    private RedisConnection _connection = null!;

    private RedisSubscriber(ILogger logger, RedisClientStats? stats)
    {
        _logger = logger;
        _stats = stats;
        _byName = _subscriptions.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Completes, with the reason, once the connection has closed.</summary>
    public Task<Exception> Closed => _connection.Closed;

    public bool IsOpen => _connection.IsOpen;

    /// <summary>Connects (see <see cref="RedisConnection.ConnectAsync"/>); throws <see cref="RedisConnectionException"/> on failure.</summary>
    public static async Task<RedisSubscriber> ConnectAsync(
        RedisConnectionOptions options,
        IRedisStreamFactory streams,
        ILogger logger,
        TimeProvider time,
        RedisClientStats? stats = null,
        CancellationToken cancellationToken = default)
    {
        var subscriber = new RedisSubscriber(logger, stats);
        subscriber._connection = await RedisConnection.ConnectAsync(options, streams, logger, time, stats, subscriber.OnPush, "subscriber", cancellationToken);
        return subscriber;
    }

    /// <summary>
    /// Subscribes to one channel (an exact name; no patterns). Subscribing again to a channel replaces its handler.
    /// Completes when Redis has acknowledged; fails like any command (<see cref="RedisConnection.ExecuteAsync"/>).
    /// </summary>
    public Task SubscribeAsync(string channel, Action<string, ReadOnlyMemory<byte>> handler)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(handler);
        return SubscribeAsync([KeyValuePair.Create(channel, handler)]);
    }

    /// <summary>Subscribes to several channels with one command: what a reconnect uses to restore hundreds at once.</summary>
    public Task SubscribeAsync(IReadOnlyList<KeyValuePair<string, Action<string, ReadOnlyMemory<byte>>>> channels)
    {
        if (channels.Count == 0)
        {
            return Task.CompletedTask;
        }
        var args = new RedisArg[channels.Count];
        lock (_sync)
        {
            // Handlers go in first: the first message may arrive the moment Redis has the command.
            var previous = new Subscription?[channels.Count];
            for (var i = 0; i < channels.Count; i++)
            {
                var (channel, handler) = channels[i];
                args[i] = channel;
                previous[i] = _subscriptions.TryGetValue(channel, out var existing) ? existing : null;
                _subscriptions[channel] = new Subscription(channel, handler);
            }
            // Redis acknowledges each channel of a SUBSCRIBE with a reply of its own.
            var sent = _connection.Send("SUBSCRIBE", args, expectedReplies: channels.Count);
            if (sent.IsFaulted && sent.Exception!.InnerException is RedisBackpressureException)
            {
                // Refused without being sent: leave things as they were.
                for (var i = 0; i < channels.Count; i++)
                {
                    if (previous[i] is { } old)
                    {
                        _subscriptions[old.Channel] = old;
                    }
                    else
                    {
                        _subscriptions.TryRemove(channels[i].Key, out _);
                    }
                }
            }
            return sent;
        }
    }

    /// <summary>Unsubscribes from a channel: no message of it is delivered after this call. Completes when Redis has acknowledged.</summary>
    public Task UnsubscribeAsync(string channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        lock (_sync)
        {
            _subscriptions.TryRemove(channel, out _);
            return _connection.ExecuteAsync("UNSUBSCRIBE", channel);
        }
    }

    /// <summary>The channels with a handler now.</summary>
    public IReadOnlyCollection<string> Channels => [.. _subscriptions.Keys];

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    /// <summary>Closes the connection for <paramref name="reason"/> (tests use it to simulate a drop).</summary>
    internal void Abort(Exception reason) => _connection.Abort(reason);

    // On the reader loop. A message in RESP2 subscribe mode is ["message", channel, payload]; acknowledgements
    // (["subscribe", channel, count]...) and PING's ["pong", ""] are replies to our commands and are declined.
    private bool OnPush(RespValue reply)
    {
        if (reply.Type != RespType.Array || reply.IsNull)
        {
            return false;
        }
        var items = reply.AsArray();
        if (items.Count == 0 || items[0].Type != RespType.BulkString || items[0].IsNull)
        {
            return false;
        }
        var kind = items[0].AsBytes().Span;
        if (items.Count == 3 && kind.SequenceEqual("message"u8))
        {
            _stats?.MessageReceived();
            Deliver(items[1].AsBytes().Span, items[2].IsNull ? default : items[2].AsBytes());
            return true;
        }
        // Pattern messages are not used here, but must never be mistaken for a reply.
        return items.Count == 4 && kind.SequenceEqual("pmessage"u8);
    }

    private void Deliver(ReadOnlySpan<byte> channelBytes, ReadOnlyMemory<byte> payload)
    {
        Subscription? subscription;
        if (channelBytes.Length <= MaxStackChannelBytes)
        {
            // Find the handler without making a string of the channel name: once per message adds up.
            Span<char> name = stackalloc char[MaxStackChannelBytes];
            var length = Encoding.UTF8.GetChars(channelBytes, name);
            _byName.TryGetValue(name[..length], out subscription);
        }
        else
        {
            _subscriptions.TryGetValue(Encoding.UTF8.GetString(channelBytes), out subscription);
        }
        if (subscription is null)
        {
            return; // unsubscribed while the message was on its way
        }
        try
        {
            subscription.Handler(subscription.Channel, payload);
        }
        catch (Exception ex)
        {
            _stats?.HandlerFailed();
            var failures = Interlocked.Increment(ref subscription.Failures);
            // A handler that keeps failing must not flood the log: the 1st, 2nd, 4th, 8th... failure is logged.
            if ((failures & (failures - 1)) == 0)
            {
                LogHandlerFailed(ex, subscription.Channel, failures);
            }
        }
    }

    private sealed class Subscription(string channel, Action<string, ReadOnlyMemory<byte>> handler)
    {
        public readonly string Channel = channel;
        public readonly Action<string, ReadOnlyMemory<byte>> Handler = handler;
        public long Failures;
    }

    [LoggerMessage(EventId = 4030, Level = LogLevel.Error, Message = "The handler of Redis channel {Channel} threw (failure {Failures} of this subscription; logged at powers of two)")]
    private partial void LogHandlerFailed(Exception exception, string channel, long failures);
}
