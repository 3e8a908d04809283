namespace CollabHub.Server.Backplane;

/// <summary>
/// Server-to-server notices (not for clients), such as "this user's access to that room changed". Every instance,
/// the sender included, gets each notice once while the backplane is up; like the rest of pub/sub, a notice sent
/// while Redis is down is lost, so receivers must also converge without it (caches expire).
/// </summary>
internal interface IClusterBus
{
    Task PublishAsync(string topic, byte[] payload);

    /// <summary>Handlers run on the backplane's receive loop: they must not block.</summary>
    Task SubscribeAsync(string topic, Action<ReadOnlyMemory<byte>> handler);
}

/// <summary>The bus of a single instance: notices go straight to its own handlers.</summary>
internal sealed class LocalClusterBus : IClusterBus
{
    private readonly Dictionary<string, Action<ReadOnlyMemory<byte>>> _handlers = new(StringComparer.Ordinal);

    public Task PublishAsync(string topic, byte[] payload)
    {
        Action<ReadOnlyMemory<byte>>? handler;
        lock (_handlers)
        {
            _handlers.TryGetValue(topic, out handler);
        }
        handler?.Invoke(payload);
        return Task.CompletedTask;
    }

    public Task SubscribeAsync(string topic, Action<ReadOnlyMemory<byte>> handler)
    {
        lock (_handlers)
        {
            _handlers[topic] = handler;
        }
        return Task.CompletedTask;
    }
}

/// <summary>
/// The bus over Redis pub/sub, on channels <c>{prefix}:bus:{topic}</c> (the prefix comes from the multiplexer's
/// channel prefix), the same under both backplane providers.
/// </summary>
internal sealed class RedisClusterBus(RedisConnection redis) : IClusterBus
{
    private const string Root = "bus:";

    public Task PublishAsync(string topic, byte[] payload) => redis.PublishAsync(Root + topic, payload);

    public Task SubscribeAsync(string topic, Action<ReadOnlyMemory<byte>> handler) => redis.SubscribeAsync(Root + topic, handler);
}
