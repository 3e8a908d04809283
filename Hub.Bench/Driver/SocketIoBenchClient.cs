using System.Text.Json;
using SocketIOClient;
using SocketIOClient.Transport;

namespace CollabHub.Bench.Driver;

/// <summary>
/// A Socket.IO connection (SocketIOClient, Engine.IO 4 over WebSockets) to the bench's node server: "join" and "set"
/// with an acknowledgement, "changed" events; the same request shapes as the SignalR hubs.
/// </summary>
internal sealed class SocketIoBenchClient : IBenchClient
{
    private readonly SocketIO _socket;
    private bool _disposed;

    public SocketIoBenchClient(Uri serverUrl, string name)
    {
        _socket = new SocketIO(serverUrl, new SocketIOOptions
        {
            EIO = 4,
            Transport = TransportProtocol.WebSocket,
            Query = [new KeyValuePair<string, string>("name", name)],
            Reconnection = false,
            ConnectionTimeout = TimeSpan.FromSeconds(30),
        });
        _socket.OnDisconnected += (_, reason) =>
        {
            if (!_disposed)
            {
                Closed?.Invoke(new IOException(reason));
            }
        };
    }

    public Action<ChangedEvent>? Changed
    {
        set => _socket.On("changed", response => value?.Invoke(ChangedEvent.From(response.GetValue<string>(0), response.GetValue(1))));
    }

    public Action<int>? Presence { set { } }

    public event Action<Exception?>? Closed;

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _socket.OnConnected += (_, _) => connected.TrySetResult();
        _socket.OnError += (_, error) => connected.TrySetException(new IOException(error));
        await _socket.ConnectAsync().WaitAsync(cancellationToken);
        await connected.Task.WaitAsync(cancellationToken);
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

    private async Task<JsonElement> EmitAsync(string eventName, object request)
    {
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _socket.EmitAsync(eventName, response => answer.TrySetResult(response.GetValue(0)), request);
        return await answer.Task;
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        try
        {
            if (_socket.Connected)
            {
                await _socket.DisconnectAsync().WaitAsync(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Closing a connection the server already dropped.
        }
        _socket.Dispose();
    }
}
