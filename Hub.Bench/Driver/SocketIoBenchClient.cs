using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace CollabHub.Bench.Driver;

/// <summary>
/// A Socket.IO connection to the bench's node server: Socket.IO protocol 5 over Engine.IO 4, WebSocket transport only
/// (<c>/socket.io/?EIO=4&amp;transport=websocket</c>), on <see cref="ClientWebSocket"/>, the transport the SignalR client
/// uses too. "join" and "set" carry an acknowledgement id (<c>42&lt;id&gt;["set",{…}]</c>, answered by
/// <c>43&lt;id&gt;[{…}]</c>); "changed" events arrive as <c>42["changed",roomId,entry]</c>; the server's pings
/// (<c>2</c>) are answered (<c>3</c>).
/// </summary>
/// <remarks>
/// The bench speaks the protocol itself rather than through the SocketIOClient package (3.0.6): on the same server
/// that package acknowledged about a third of the emits per second that node's socket.io-client does (measured, see
/// docs/performance.md), which would have made the driver, not Socket.IO, the limit.
/// </remarks>
internal sealed class SocketIoBenchClient : IBenchClient
{
    private readonly Uri _url;
    private readonly ClientWebSocket _socket = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _acks = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private Action<ChangedEvent>? _changed;
    private int _nextAckId;
    private int _closed;
    private Task? _receiving;

    public SocketIoBenchClient(Uri serverUrl, string name)
    {
        var ws = serverUrl.Scheme == "https" ? "wss" : "ws";
        _url = new Uri($"{ws}://{serverUrl.Authority}/socket.io/?EIO=4&transport=websocket&name={Uri.EscapeDataString(name)}");
    }

    public Action<ChangedEvent>? Changed { set => _changed = value; }

    public Action<int>? Presence { set { } }

    public event Action<Exception?>? Closed;

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        await _socket.ConnectAsync(_url, cancellationToken);
        _receiving = ReceiveAsync();
        // Engine.IO's open packet comes first; then connect to the main namespace and wait for its answer.
        await SendAsync("40"u8.ToArray());
        await _connected.Task.WaitAsync(cancellationToken);
    }

    public async Task<JoinAnswer> JoinAsync(string roomId, long? sinceSeq, CancellationToken cancellationToken) =>
        JoinAnswer.From(await EmitAsync("join", new JoinArgs(roomId, sinceSeq)).WaitAsync(cancellationToken));

    public async Task<long> SetAsync(string roomId, string key, BenchValue value)
    {
        var answer = await EmitAsync("set", new SetArgs(roomId, key, value));
        return answer.TryGetProperty("seq", out var seq)
            ? seq.GetInt64()
            : throw new InvalidOperationException($"set failed: {answer.GetRawText()}");
    }

    /// <summary>Sends <c>42&lt;id&gt;["event",request]</c> and returns the acknowledgement's first argument.</summary>
    private async Task<JsonElement> EmitAsync<T>(string eventName, T request)
    {
        var id = Interlocked.Increment(ref _nextAckId);
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _acks[id] = answer;
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.Write("42"u8);
        buffer.Write(Encoding.ASCII.GetBytes(id.ToString(CultureInfo.InvariantCulture)));
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            json.WriteStringValue(eventName);
            JsonSerializer.Serialize(json, request);
            json.WriteEndArray();
        }
        try
        {
            await SendAsync(buffer.WrittenMemory);
        }
        catch
        {
            _acks.TryRemove(id, out _);
            throw;
        }
        return await answer.Task;
    }

    private async Task SendAsync(ReadOnlyMemory<byte> message)
    {
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, _stop.Token);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[16 * 1024];
        Exception? error = null;
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), _stop.Token);
                    length += result.Count;
                }
                while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                await OnPacketAsync(buffer.AsMemory(0, length));
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            error = ex;
        }
        OnClosed(error);
    }

    /// <summary>One Engine.IO packet: 0 open, 2 ping, 4 message (a Socket.IO packet: 0 connect, 2 event, 3 ack, 4 error).</summary>
    private async Task OnPacketAsync(ReadOnlyMemory<byte> packet)
    {
        var span = packet.Span;
        switch (span[0])
        {
            case (byte)'2':
                await SendAsync("3"u8.ToArray());
                return;
            case (byte)'1':
                throw new IOException("the server closed the Engine.IO session");
            case not (byte)'4':
                return; // the open packet; the bench needs none of its fields
        }
        switch (span.Length > 1 ? span[1] : 0)
        {
            case (byte)'0':
                _connected.TrySetResult();
                return;
            case (byte)'4':
                _connected.TrySetException(new IOException($"connect refused: {Encoding.UTF8.GetString(span[2..])}"));
                return;
            case (byte)'2':
                OnEvent(packet[2..]);
                return;
            case (byte)'3':
                var digits = 2;
                while (digits < span.Length && char.IsAsciiDigit((char)span[digits]))
                {
                    digits++;
                }
                var id = int.Parse(span[2..digits], CultureInfo.InvariantCulture);
                if (_acks.TryRemove(id, out var answer))
                {
                    using var arguments = JsonDocument.Parse(packet[digits..]);
                    answer.TrySetResult(arguments.RootElement[0].Clone());
                }
                return;
        }
    }

    private void OnEvent(ReadOnlyMemory<byte> json)
    {
        if (_changed is not { } changed)
        {
            return;
        }
        using var arguments = JsonDocument.Parse(json);
        var root = arguments.RootElement;
        if (root[0].ValueEquals("changed"u8))
        {
            changed(ChangedEvent.From(root[1].GetString()!, root[2]));
        }
    }

    private void OnClosed(Exception? error)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        var closed = new IOException("the Socket.IO connection closed", error);
        _connected.TrySetException(closed);
        foreach (var id in _acks.Keys)
        {
            if (_acks.TryRemove(id, out var answer))
            {
                answer.TrySetException(closed);
            }
        }
        if (!_stop.IsCancellationRequested)
        {
            Closed?.Invoke(error);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
            {
                // The server is gone already.
            }
        }
        _socket.Abort();
        if (_receiving is not null)
        {
            await _receiving;
        }
        _socket.Dispose();
        _sendLock.Dispose();
        _stop.Dispose();
    }
}
