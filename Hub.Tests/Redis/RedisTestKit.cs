using System.Collections.Concurrent;
using CollabHub.Server.Backplane.Redis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CollabHub.Tests.Redis;

/// <summary>Helpers shared by the Redis client tests: connections, clients, fault-injecting streams, a log recorder.</summary>
internal static class RedisTestKit
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static Task<RedisConnection> ConnectAsync(RedisConnectionOptions options, IRedisStreamFactory? streams = null) =>
        RedisConnection.ConnectAsync(options, streams ?? new SocketRedisStreamFactory(), NullLogger.Instance, TimeProvider.System).WaitAsync(Timeout);

    /// <summary>A started client; fails if it does not connect within the timeout.</summary>
    public static async Task<RedisClient> StartClientAsync(RedisConnectionOptions options, IRedisStreamFactory? streams = null, ILogger<RedisClient>? logger = null)
    {
        var client = NewClient(options, streams, logger);
        await client.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        await WaitUntilAsync(() => client.IsConnected, "the client to connect");
        return client;
    }

    public static RedisClient NewClient(RedisConnectionOptions options, IRedisStreamFactory? streams = null, ILogger<RedisClient>? logger = null) =>
        new(options, streams ?? new SocketRedisStreamFactory(), logger ?? NullLogger<RedisClient>.Instance, TimeProvider.System);

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

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!await condition().WaitAsync(Timeout))
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

/// <summary>Messages a subscription receives, waited for with a timeout.</summary>
internal sealed class MessageInbox
{
    private readonly ConcurrentQueue<(string Channel, byte[] Payload)> _messages = new();

    /// <summary>A handler that copies each payload (it is valid only during the call).</summary>
    public Action<string, ReadOnlyMemory<byte>> Handler => (channel, payload) => _messages.Enqueue((channel, payload.ToArray()));

    public IReadOnlyList<(string Channel, byte[] Payload)> All => [.. _messages];

    public IEnumerable<string> Texts(string channel) =>
        All.Where(m => m.Channel == channel).Select(m => System.Text.Encoding.UTF8.GetString(m.Payload));

    public Task WaitForAsync(string channel, string text) =>
        RedisTestKit.WaitUntilAsync(() => Texts(channel).Contains(text), $"message '{text}' on {channel}; got: {string.Join(", ", All.Select(m => m.Channel))}");
}

/// <summary>
/// Wraps every stream the real factory opens; can refuse new connections (Redis "unreachable" without killing it)
/// and keeps the wrappers so a test can stall or split them.
/// </summary>
internal sealed class FaultyStreamFactory(Func<Stream, FaultyStream>? wrap = null) : IRedisStreamFactory
{
    private readonly SocketRedisStreamFactory _inner = new();
    private readonly ConcurrentQueue<FaultyStream> _opened = new();

    public volatile bool Refuse;

    public IReadOnlyList<FaultyStream> Opened => [.. _opened];

    public async ValueTask<Stream> ConnectAsync(RedisConnectionOptions options, CancellationToken cancellationToken)
    {
        if (Refuse)
        {
            throw new IOException("refused by the test");
        }
        var stream = (wrap ?? (s => new FaultyStream(s)))(await _inner.ConnectAsync(options, cancellationToken));
        _opened.Enqueue(stream);
        return stream;
    }
}

/// <summary>A stream over another that can hand out one byte per read, or stop writing until cancelled.</summary>
internal sealed class FaultyStream(Stream inner) : Stream
{
    /// <summary>Every read returns at most one byte: replies arrive split at every possible place.</summary>
    public bool OneBytePerRead { get; init; }

    /// <summary>From now on writes never complete (until the connection cancels them): a peer that stopped reading.</summary>
    public volatile bool StallWrites;

    public long BytesRead;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(OneBytePerRead && buffer.Length > 1 ? buffer[..1] : buffer, cancellationToken);
        Interlocked.Add(ref BytesRead, read);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (StallWrites)
        {
            await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
        }
        await inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
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
