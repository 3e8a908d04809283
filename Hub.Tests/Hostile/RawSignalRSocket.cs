using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Hostile;

/// <summary>What became of one invocation sent by hand: a result, an error completion, or the connection closed.</summary>
internal sealed record Outcome(OutcomeKind Kind, JsonElement? Result, string? Error, string? CloseReason)
{
    public static Outcome Closed(string reason) => new(OutcomeKind.Closed, null, null, reason);

    /// <summary>The error's stable code (<c>invalid_key</c>, ...), or null when it has none or is not an error.</summary>
    public string? Code => Error is null ? null : Protocol.ErrorCodes.Parse(Error);

    public override string ToString() => Kind switch
    {
        OutcomeKind.Result => $"result {Result?.GetRawText()}",
        OutcomeKind.Error => $"error \"{Error}\"",
        _ => $"closed ({CloseReason})",
    };
}

internal enum OutcomeKind
{
    Result,
    Error,
    Closed,
}

/// <summary>
/// A bare <see cref="ClientWebSocket"/> to the hub that speaks the SignalR JSON protocol by hand, so a test can send
/// anything at all: any frame, any bytes, no handshake. It records completions, events, the server's Close message
/// and the WebSocket close.
/// </summary>
internal sealed class RawSignalRSocket : IAsyncDisposable
{
    public const char RecordSeparator = '\u001e';
    public const string Handshake = "{\"protocol\":\"json\",\"version\":1}\u001e";

    private readonly ClientWebSocket _socket;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Outcome>> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<JsonElement> _events = new();
    private readonly ConcurrentQueue<string> _records = new();
    private readonly TaskCompletionSource<string> _handshake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _socketClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task _receiving = Task.CompletedTask;
    private bool _handshakeDone;
    private int _nextId;
    private string? _closeMessageError;
    private bool _gotCloseMessage;

    private RawSignalRSocket(ClientWebSocket socket)
    {
        _socket = socket;
    }

    /// <summary>Completes with a description once the connection is over (Close message, WebSocket close, or a broken socket).</summary>
    public Task<string> Closed => _closed.Task;

    public bool IsClosed => _closed.Task.IsCompleted;

    /// <summary>How the connection ended, or null while it is open.</summary>
    public string? CloseReason => _closed.Task.IsCompletedSuccessfully ? _closed.Task.Result : null;

    /// <summary>Completes once the WebSocket itself is over (closed by the server, or broken), not just announced by a Close message.</summary>
    public Task<string> SocketClosed => _socketClosed.Task;

    /// <summary>The error of the server's Close message (type 7), if it sent one with an error.</summary>
    public string? CloseMessageError => _closeMessageError;

    public bool GotCloseMessage => _gotCloseMessage;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    /// <summary>Every record the server sent, in order, as text (the handshake answer first).</summary>
    public IReadOnlyList<string> Records => [.. _records];

    /// <summary>The invocations (events) the server sent, as JSON records.</summary>
    public IReadOnlyList<JsonElement> Events => [.. _events];

    /// <summary>The hub URL as a WebSocket URL with <c>?name=</c>.</summary>
    public static Uri WebSocketUrl(Uri hubUrl, string name) =>
        new($"ws://{hubUrl.Authority}{hubUrl.AbsolutePath}?name={Uri.EscapeDataString(name)}");

    /// <summary>Opens the WebSocket; with <paramref name="handshake"/>, also sends the JSON handshake and waits for its answer.</summary>
    public static async Task<RawSignalRSocket> ConnectAsync(Uri hubUrl, string name, bool handshake = true) =>
        await ConnectAsync(WebSocketUrl(hubUrl, name), handshake);

    /// <summary>Opens the WebSocket at <paramref name="webSocketUrl"/>, with <c>Authorization: Bearer</c> when given a <paramref name="bearer"/> token.</summary>
    public static async Task<RawSignalRSocket> ConnectAsync(Uri webSocketUrl, bool handshake, string? bearer = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        if (bearer is not null)
        {
            socket.Options.SetRequestHeader("Authorization", "Bearer " + bearer);
        }
        await socket.ConnectAsync(webSocketUrl, CancellationToken.None).Within();
        var raw = new RawSignalRSocket(socket);
        raw._receiving = Task.Run(raw.ReceiveLoopAsync);
        if (handshake)
        {
            await raw.SendTextAsync(Handshake);
            var answer = await raw.HandshakeAnswer.Within();
            if (answer != "{}")
            {
                throw new InvalidOperationException($"the handshake was refused: {answer}");
            }
        }
        return raw;
    }

    /// <summary>The server's handshake answer (<c>{}</c>, or an error), or a description of the close if none came.</summary>
    public Task<string> HandshakeAnswer => HandshakeAnswerAsync();

    private async Task<string> HandshakeAnswerAsync()
    {
        // The answer wins when both are in: they complete in order, but their continuations race on the pool.
        await Task.WhenAny(_handshake.Task, _closed.Task);
        return _handshake.Task.IsCompleted ? await _handshake.Task : await _closed.Task;
    }

    /// <summary>Sends <paramref name="bytes"/> as one WebSocket message (or a fragment of one) of the given type.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes, WebSocketMessageType type = WebSocketMessageType.Text, bool endOfMessage = true)
    {
        await _sendLock.WaitAsync().Within();
        try
        {
            await _socket.SendAsync(bytes, type, endOfMessage, CancellationToken.None).AsTask().Within();
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public Task SendTextAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>A fresh invocation id.</summary>
    public string NextId() => $"i{Interlocked.Increment(ref _nextId)}";

    /// <summary>An invocation frame (with its record separator) of <paramref name="target"/> with <paramref name="argumentsJson"/> as the arguments.</summary>
    public static string Frame(string id, string target, string argumentsJson) =>
        $"{{\"type\":1,\"invocationId\":\"{id}\",\"target\":{JsonSerializer.Serialize(target)},\"arguments\":{argumentsJson}}}{RecordSeparator}";

    /// <summary>Invokes <paramref name="target"/> with one request object given as JSON, and waits for what becomes of it.</summary>
    public Task<Outcome> InvokeAsync(string target, string requestJson) => InvokeArgumentsAsync(target, $"[{requestJson}]");

    /// <summary>Invokes <paramref name="target"/> with <paramref name="argumentsJson"/> (the whole arguments array, or anything).</summary>
    public async Task<Outcome> InvokeArgumentsAsync(string target, string argumentsJson)
    {
        var id = NextId();
        return await SendFrameAsync(id, Encoding.UTF8.GetBytes(Frame(id, target, argumentsJson)));
    }

    /// <summary>
    /// Sends raw bytes that carry (or pretend to carry) the invocation <paramref name="id"/>, and waits for its
    /// completion or for the connection to close.
    /// </summary>
    public async Task<Outcome> SendFrameAsync(string id, ReadOnlyMemory<byte> bytes, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        var completion = Expect(id);
        try
        {
            await SendAsync(bytes, type);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
        {
            // The server may close while we send; the outcome is the close.
        }
        return await WaitAsync(completion);
    }

    /// <summary>Registers interest in the completion of <paramref name="id"/> (before sending it).</summary>
    public Task<Outcome> Expect(string id)
    {
        var completion = new TaskCompletionSource<Outcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = completion;
        if (IsClosed)
        {
            completion.TrySetResult(Outcome.Closed(_closed.Task.Result));
        }
        return completion.Task;
    }

    public static Task<Outcome> WaitAsync(Task<Outcome> completion) => completion.Within();

    /// <summary>Waits until the connection is over, and says how it ended.</summary>
    public Task<string> WaitClosedAsync(TimeSpan? timeout = null) => _closed.Task.WaitAsync(timeout ?? TestClients.Timeout);

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        var pending = new MemoryStream();
        try
        {
            while (true)
            {
                var received = await _socket.ReceiveAsync(buffer.AsMemory(), _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    var reason = $"WebSocket close {_socket.CloseStatus} '{_socket.CloseStatusDescription}'";
                    Close(reason);
                    _socketClosed.TrySetResult(reason);
                    try
                    {
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
                    }
                    catch (Exception ex) when (ex is WebSocketException or IOException or TimeoutException or ObjectDisposedException)
                    {
                        // Already gone.
                    }
                    return;
                }
                pending.Write(buffer, 0, received.Count);
                Dispatch(pending);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            Close("disposed by the test");
            _socketClosed.TrySetResult("disposed by the test");
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            var reason = $"socket broke: {ex.GetType().Name}: {ex.Message}";
            Close(reason);
            _socketClosed.TrySetResult(reason);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            // The server sent something this client cannot read: a finding of its own, reported as the close reason.
            var reason = $"the server sent an unreadable record: {ex.GetType().Name}: {ex.Message}";
            Close(reason);
            _socketClosed.TrySetResult(reason);
        }
    }

    /// <summary>Takes every complete record out of <paramref name="pending"/> and handles it.</summary>
    private void Dispatch(MemoryStream pending)
    {
        var data = pending.GetBuffer().AsSpan(0, (int)pending.Length);
        var start = 0;
        int end;
        while ((end = data[start..].IndexOf((byte)RecordSeparator)) >= 0)
        {
            var record = Encoding.UTF8.GetString(data.Slice(start, end));
            start += end + 1;
            Handle(record);
        }
        var rest = data[start..].ToArray();
        pending.SetLength(0);
        pending.Write(rest);
    }

    private void Handle(string record)
    {
        _records.Enqueue(record);
        if (!_handshakeDone)
        {
            _handshakeDone = true;
            _handshake.TrySetResult(record);
            return;
        }
        using var document = JsonDocument.Parse(record);
        var root = document.RootElement;
        switch (root.GetProperty("type").GetInt32())
        {
            case 1:
                _events.Enqueue(root.Clone());
                break;
            case 3:
                var id = root.GetProperty("invocationId").GetString()!;
                if (_pending.TryRemove(id, out var completion))
                {
                    completion.TrySetResult(root.TryGetProperty("error", out var error)
                        ? new Outcome(OutcomeKind.Error, null, error.GetString(), null)
                        : new Outcome(OutcomeKind.Result, root.TryGetProperty("result", out var result) ? result.Clone() : null, null, null));
                }
                break;
            case 7:
                _gotCloseMessage = true;
                _closeMessageError = root.TryGetProperty("error", out var closeError) ? closeError.GetString() : null;
                Close($"Close message{(_closeMessageError is null ? "" : $" with error '{_closeMessageError}'")}");
                break;
        }
    }

    private void Close(string reason)
    {
        if (_closed.TrySetResult(reason))
        {
            foreach (var id in _pending.Keys)
            {
                if (_pending.TryRemove(id, out var completion))
                {
                    completion.TrySetResult(Outcome.Closed(reason));
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try
        {
            await _receiving.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // Aborted below.
        }
        _socket.Abort();
        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
    }
}
