using System.Text.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Bench.Driver;

/// <summary>
/// A SignalR connection (Microsoft.AspNetCore.SignalR.Client, JSON protocol, WebSockets without negotiation), used
/// for CollabHub and for the bare hub alike: both take the same method names and request shapes.
/// </summary>
internal sealed class SignalRBenchClient : IBenchClient
{
    private readonly HubConnection _connection;
    private Action<ChangedEvent>? _changed;
    private Action<int>? _presence;
    private bool _disposed;

    public SignalRBenchClient(Uri hubUrl, string name)
    {
        _connection = new HubConnectionBuilder()
            .WithUrl($"{hubUrl}?name={Uri.EscapeDataString(name)}", options =>
            {
                options.SkipNegotiation = true;
                options.Transports = HttpTransportType.WebSockets;
            })
            .Build();
        // Every client takes CollabHub's presence deltas (the bare hub sends none): a client with no handler would
        // make the SignalR client fail to bind each one, an exception per event.
        _connection.On<string, PayloadSize>("PresenceDelta", (_, delta) => _presence?.Invoke(delta.Bytes));
        _connection.Closed += error =>
        {
            if (!_disposed)
            {
                Closed?.Invoke(error);
            }
            return Task.CompletedTask;
        };
    }

    public Action<ChangedEvent>? Changed
    {
        set
        {
            _changed = value;
            _connection.On<string, JsonElement>("Changed", (roomId, entry) => _changed?.Invoke(ChangedEvent.From(roomId, entry)));
        }
    }

    public Action<int>? Presence
    {
        set => _presence = value;
    }

    public event Action<Exception?>? Closed;

    public Task ConnectAsync(CancellationToken cancellationToken) => _connection.StartAsync(cancellationToken);

    public Task<JoinAnswer> JoinAsync(string roomId, long? sinceSeq, CancellationToken cancellationToken) =>
        _connection.InvokeAsync<JoinAnswer>("Join", new JoinArgs(roomId, sinceSeq), cancellationToken);

    /// <summary>CollabHub's Sync, for a join answer with more pages.</summary>
    public Task<JoinAnswer> SyncAsync(string roomId, long sinceSeq, CancellationToken cancellationToken) =>
        _connection.InvokeAsync<JoinAnswer>("Sync", new SyncArgs(roomId, sinceSeq), cancellationToken);

    public async Task<long> SetAsync(string roomId, string key, BenchValue value) =>
        (await _connection.InvokeAsync<JsonElement>("Set", new SetArgs(roomId, key, value))).GetProperty("seq").GetInt64();

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        await _connection.DisposeAsync();
    }
}
