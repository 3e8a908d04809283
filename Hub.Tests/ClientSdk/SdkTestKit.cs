using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Net.WebSockets;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace CollabHub.Tests.ClientSdk;

/// <summary>Clients and waits for the SDK tests.</summary>
internal static class SdkTestKit
{
    /// <summary>
    /// A client (not started) with a quick reconnect backoff, so tests do not wait for the production defaults, on
    /// <paramref name="transport"/> (null: the defaults, which negotiate).
    /// </summary>
    public static CollabClient NewClient(Uri hubUrl, string name, Action<CollabClientOptions>? configure = null, ClientTransport? transport = null)
    {
        var options = new CollabClientOptions
        {
            Url = hubUrl,
            Name = name,
            ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        transport?.Apply(options);
        configure?.Invoke(options);
        return new CollabClient(options);
    }

    /// <summary>
    /// Asserts that <paramref name="error"/> is what a connect to a server that cannot be reached raises: the negotiate
    /// request's <see cref="HttpRequestException"/>, or, without negotiation, the WebSocket's <see cref="WebSocketException"/>.
    /// </summary>
    public static void AssertRefusedConnect(Exception? error) =>
        Assert.True(error is HttpRequestException or WebSocketException or SocketException, $"Expected the error of a refused connect, got: {error}");

    /// <summary>Polls <paramref name="condition"/> until it holds, or fails after the test timeout saying what was awaited.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestClients.Timeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Polls an asynchronous <paramref name="condition"/> until it holds, or fails after the test timeout.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestClients.Timeout);
        while (!await condition().Within())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the room's confirmed replica holds exactly what the store holds (read through <paramref name="reader"/>).</summary>
    public static async Task WaitUntilConvergedAsync(CollabRoom room, CollabConnection reader)
    {
        var deadline = DateTime.UtcNow + TestClients.Timeout;
        while (true)
        {
            var (seq, entries, _) = await reader.SyncAllAsync(room.RoomId);
            var live = entries.Values.Where(e => !e.Deleted).ToDictionary(e => e.Key, e => e.Version);
            var replica = room.Confirmed.ToDictionary(e => e.Key, e => e.Value.Version);
            if (room.Seq == seq && room.IsSynced && live.Count == replica.Count && live.All(e => replica.GetValueOrDefault(e.Key) == e.Value))
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"Room {room.RoomId} did not converge: store at seq {seq} with {string.Join(", ", live.Select(e => $"{e.Key}@{e.Value}"))}; " +
                    $"replica at seq {room.Seq} (synced: {room.IsSynced}) with {string.Join(", ", replica.Select(e => $"{e.Key}@{e.Value}"))}");
            }
            await Task.Delay(50);
        }
    }
}

/// <summary>Keeps the log messages of a client (set as <see cref="CollabClientOptions.LoggerFactory"/>).</summary>
internal sealed class LogCollector : ILoggerProvider, ILoggerFactory
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, EventId Id, string Message)> _entries = new();

    public IReadOnlyList<(string Category, LogLevel Level, EventId Id, string Message)> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(LogCollector collector, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            collector._entries.Enqueue((category, logLevel, eventId, formatter(state, exception)));
    }
}

/// <summary>Records a client's state changes and pending-write counts.</summary>
internal sealed class ClientLog
{
    private readonly ConcurrentQueue<CollabStateChange> _states = new();
    private readonly ConcurrentQueue<int> _pending = new();

    public ClientLog(CollabClient client)
    {
        client.StateChanged += change => _states.Enqueue(change);
        client.PendingWritesChanged += count => _pending.Enqueue(count);
    }

    public IReadOnlyList<CollabClientState> States => [.. _states.Select(s => s.Current)];

    /// <summary>The states without repeats: a failed attempt raises <see cref="CollabClientState.Reconnecting"/> again.</summary>
    public IReadOnlyList<CollabClientState> Transitions => [.. States.Where((s, i) => i == 0 || States[i - 1] != s)];

    public IReadOnlyList<CollabStateChange> StateChanges => [.. _states];

    public IReadOnlyList<int> PendingCounts => [.. _pending];

    public Task WaitForStateAsync(CollabClientState state, int occurrence = 1) =>
        SdkTestKit.WaitUntilAsync(() => States.Count(s => s == state) >= occurrence, $"state {state} (#{occurrence}); seen: {string.Join(" > ", States)}");
}

/// <summary>The values of a room's entries, for assertions.</summary>
internal static class RoomValues
{
    public static string? Text(this CollabRoom room, string key) => room.Get(key)?.Value?.GetString();

    public static string? ConfirmedText(this CollabRoom room, string key) => room.GetConfirmed(key)?.Value?.GetString();

    public static int Count(this IEnumerable<Entry> entries, string key) => entries.Count(e => e.Key == key);
}
