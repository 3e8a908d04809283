using System.Collections.Concurrent;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Tests.Access;

/// <summary>A bare SignalR connection to the hub as a Development user, recording every event it gets.</summary>
internal sealed class RawHubClient : IAsyncDisposable
{
    private readonly ConcurrentQueue<(string Event, string RoomId, object Payload)> _events = new();

    private RawHubClient(HubConnection connection)
    {
        Connection = connection;
        connection.On<string, Entry>(HubEvents.Changed, (room, entry) => _events.Enqueue((HubEvents.Changed, room, entry)));
        connection.On<string, Message>(HubEvents.Posted, (room, message) => _events.Enqueue((HubEvents.Posted, room, message)));
        connection.On<string, SignalEvent>(HubEvents.Signaled, (room, signal) => _events.Enqueue((HubEvents.Signaled, room, signal)));
        connection.On<string, PresenceDelta>(HubEvents.PresenceDelta, (room, delta) => _events.Enqueue((HubEvents.PresenceDelta, room, delta)));
        connection.On<string, AccessChange>(HubEvents.AccessChanged, (room, change) => _events.Enqueue((HubEvents.AccessChanged, room, change)));
        connection.Closed += error =>
        {
            ClosedWith.TrySetResult(error);
            return Task.CompletedTask;
        };
    }

    public HubConnection Connection { get; }

    public TaskCompletionSource<Exception?> ClosedWith { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<(string Event, string RoomId, object Payload)> Events => [.. _events];

    public static async Task<RawHubClient> ConnectAsync(Uri hubUrl, string name)
    {
        var connection = new HubConnectionBuilder().WithDirectWebSocket(new Uri($"{hubUrl}?name={Uri.EscapeDataString(name)}")).Build();
        var client = new RawHubClient(connection);
        await connection.StartAsync().Within();
        return client;
    }

    public Task<T> InvokeAsync<T>(string method, object request) => Connection.InvokeAsync<T>(method, request).Within();

    public Task InvokeAsync(string method, object request) => Connection.InvokeAsync(method, request).Within();

    /// <summary>The stable code of the error a call fails with.</summary>
    public async Task<string?> ErrorOfAsync(string method, object request)
    {
        var error = await Assert.ThrowsAsync<HubException>(() => Connection.InvokeAsync<object>(method, request).Within());
        return ErrorCodes.Parse(error.Message);
    }

    public async Task WaitForAsync(Func<(string Event, string RoomId, object Payload), bool> match, string what)
    {
        var deadline = DateTime.UtcNow + TestClients.Timeout;
        while (!Events.Any(match))
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}; got: {string.Join(", ", Events.Select(e => $"{e.Event}@{e.RoomId} {System.Text.Json.JsonSerializer.Serialize(e.Payload)}"))}");
            await Task.Delay(50);
        }
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();
}
