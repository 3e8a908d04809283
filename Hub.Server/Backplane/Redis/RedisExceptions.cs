namespace CollabHub.Server.Backplane.Redis;

/// <summary>Base of every failure the Redis client reports.</summary>
internal abstract class RedisException : Exception
{
    protected RedisException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Redis answered a command with an error reply. The message is Redis's own text, e.g.
/// <c>WRONGTYPE Operation against a key holding the wrong kind of value</c>; the connection stays usable.
/// </summary>
internal sealed class RedisServerException(string message) : RedisException(message)
{
    /// <summary>The error's first word, Redis's machine-readable code: <c>ERR</c>, <c>WRONGTYPE</c>, <c>NOAUTH</c>, <c>WRONGPASS</c>...</summary>
    public string ErrorCode { get; } = message.Split(' ', 2)[0];
}

/// <summary>
/// There is no usable connection: it could not be made, or it dropped. A command that fails with this may or may
/// not have been carried out by Redis, if it had already been written when the connection dropped.
/// </summary>
internal sealed class RedisConnectionException(string message, Exception? innerException = null) : RedisException(message, innerException);

/// <summary>
/// The command was refused before it was sent, because the connection already holds as many commands or bytes as
/// its limits allow (<see cref="RedisConnectionOptions.MaxPendingCommands"/>, <see cref="RedisConnectionOptions.MaxOutgoingBytes"/>).
/// Nothing was sent; the caller may retry later or drop the work.
/// </summary>
internal sealed class RedisBackpressureException(string message) : RedisException(message);

/// <summary>Redis sent something that is not valid RESP2, or a reply larger than allowed; the connection is closed.</summary>
internal sealed class RedisProtocolException(string message) : RedisException(message);
