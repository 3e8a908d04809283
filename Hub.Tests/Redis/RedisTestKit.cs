using System.Collections.Concurrent;
using CollabHub.Server.Backplane;
using CollabHub.Server.Configuration;
using CollabHub.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace CollabHub.Tests.Redis;

/// <summary>One redis-server shared by the tests of a class that only use their own keys and channels.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    internal RedisServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RedisServerProcess.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Helpers shared by the Redis connection tests: connections as the server makes them, waiting, a log recorder.</summary>
internal static class RedisTestKit
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A <see cref="RedisConnection"/> as the server builds it (AbortOnConnectFail off, channels under a prefix of
    /// its own); returns once its first connect attempt is over, connected or not.
    /// </summary>
    public static async Task<RedisConnection> ConnectAsync(
        ConfigurationOptions configuration, RecordingLogger<RedisConnection>? logger = null, int maxPendingPublishes = 10_000, string? prefix = null)
    {
        configuration.AbortOnConnectFail = false;
        configuration.ChannelPrefix = RedisChannel.Literal((prefix ?? NewKey("test")) + ":");
        var options = new BackplaneOptions { MaxPendingPublishes = maxPendingPublishes };
        var connection = new RedisConnection(configuration, options, logger ?? new RecordingLogger<RedisConnection>());
        await connection.GetMultiplexerAsync().WaitAsync(Timeout);
        return connection;
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}");
            }
            await Task.Delay(10);
        }
    }

    public static string NewKey(string prefix = "key") => $"{prefix}:{Guid.NewGuid():N}";
}

/// <summary>The payloads one subscription received, in the order its handler saw them.</summary>
internal sealed class MessageInbox
{
    private readonly ConcurrentQueue<string> _messages = new();

    /// <summary>A handler that copies each payload (it is valid only during the call).</summary>
    public Action<ReadOnlyMemory<byte>> Handler => payload => _messages.Enqueue(System.Text.Encoding.UTF8.GetString(payload.Span));

    public IReadOnlyList<string> Texts => [.. _messages];

    public Task WaitForAsync(string text) =>
        RedisTestKit.WaitUntilAsync(() => _messages.Contains(text), $"message '{text}'; got: {string.Join(", ", Texts)}");
}

/// <summary>Keeps every log entry, to check what is logged and how often.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<(LogLevel Level, EventId EventId, string Message)> _entries = new();

    public IReadOnlyList<(LogLevel Level, EventId EventId, string Message)> Entries => [.. _entries];

    public int Count(int eventId) => Entries.Count(e => e.EventId.Id == eventId);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue((logLevel, eventId, formatter(state, exception)));
}
