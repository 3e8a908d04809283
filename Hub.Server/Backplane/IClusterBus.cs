using CollabHub.Server.Backplane.Redis;

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

/// <summary>The bus over Redis pub/sub, on channels <c>{prefix}:bus:{topic}</c>.</summary>
internal sealed class RedisClusterBus(RedisClient redis, Microsoft.Extensions.Options.IOptions<Configuration.CollabHubOptions> options) : IClusterBus
{
    private readonly string _prefix = $"{options.Value.RedisPrefix}:bus:";

    public Task PublishAsync(string topic, byte[] payload) => redis.PublishAsync(_prefix + topic, payload);

    public Task SubscribeAsync(string topic, Action<ReadOnlyMemory<byte>> handler) =>
        redis.SubscribeAsync(_prefix + topic, (_, data) => handler(data));
}
