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
        set
        {
            _presence = value;
            // Today's CollabHub sends the whole list; issue 10 turns it into deltas. Whichever arrives is counted.
            foreach (var name in new[] { "PresenceChanged", "PresenceDelta" })
            {
                _connection.On<string, JsonElement>(name, (_, presence) => _presence?.Invoke(presence.GetRawText().Length));
            }
        }
    }

    public event Action<Exception?>? Closed;

    public Task ConnectAsync(CancellationToken cancellationToken) => _connection.StartAsync(cancellationToken);

    public async Task<JoinAnswer> JoinAsync(string roomId, long? sinceSeq, CancellationToken cancellationToken) =>
        JoinAnswer.From(await _connection.InvokeAsync<JsonElement>("Join", new JoinArgs(roomId, sinceSeq), cancellationToken));

    /// <summary>CollabHub's Sync, for a join answer with more pages.</summary>
    public async Task<JoinAnswer> SyncAsync(string roomId, long sinceSeq, CancellationToken cancellationToken) =>
        JoinAnswer.From(await _connection.InvokeAsync<JsonElement>("Sync", new SyncArgs(roomId, sinceSeq), cancellationToken));

    public async Task<long> SetAsync(string roomId, string key, BenchValue value) =>
        (await _connection.InvokeAsync<JsonElement>("Set", new SetArgs(roomId, key, value))).GetProperty("seq").GetInt64();

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        await _connection.DisposeAsync();
    }
}
