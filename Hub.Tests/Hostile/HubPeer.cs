using System.Collections.Concurrent;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Tests.Hostile;

/// <summary>One event as a well-behaved client received it: its name, the room id it carried, and its payload.</summary>
internal sealed record PeerEvent(string Name, string RoomId, JsonElement Payload);

/// <summary>
/// A well-behaved client: a plain SignalR <see cref="HubConnection"/> (JSON protocol, direct WebSocket) connected as a
/// Development user, recording every event as raw JSON so a test can check exactly what arrived.
/// </summary>
internal sealed class HubPeer : IAsyncDisposable
{
    private readonly ConcurrentQueue<PeerEvent> _events = new();

    private HubPeer(HubConnection connection, string name)
    {
        Connection = connection;
        Name = name;
        foreach (var eventName in new[] { HubEvents.Changed, HubEvents.Posted, HubEvents.Signaled, HubEvents.PresenceDelta, HubEvents.AccessChanged })
        {
            connection.On<string, JsonElement>(eventName, (room, payload) => _events.Enqueue(new PeerEvent(eventName, room, payload)));
        }
        connection.Closed += error =>
        {
            ClosedWith.TrySetResult(error);
            return Task.CompletedTask;
        };
    }

    public HubConnection Connection { get; }

    public string Name { get; }

    public TaskCompletionSource<Exception?> ClosedWith { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<PeerEvent> Events => [.. _events];

    /// <summary>Why the connection closed ("none" when it closed without an error), or null while it is open.</summary>
    public string? CloseReason => ClosedWith.Task.IsCompletedSuccessfully ? ClosedWith.Task.Result?.Message ?? "none" : null;

    public static async Task<HubPeer> ConnectAsync(Uri hubUrl, string name)
    {
        var connection = new HubConnectionBuilder()
            .WithDirectWebSocket(new Uri($"{hubUrl}?name={Uri.EscapeDataString(name)}"))
            .Build();
        var peer = new HubPeer(connection, name);
        await connection.StartAsync().Within();
        return peer;
    }

    public Task<JoinResult> JoinAsync(string roomId, long? sinceSeq = null) =>
        Connection.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(roomId, sinceSeq)).Within();

    public Task<WriteResult> SetAsync(string roomId, string key, JsonElement value, string? mutationId = null) =>
        Connection.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(roomId, key, value, mutationId)).Within();

    public Task<PostResult> PostAsync(string roomId, JsonElement body) =>
        Connection.InvokeAsync<PostResult>(HubMethods.Post, new PostRequest(roomId, body)).Within();

    public Task SignalAsync(string roomId, JsonElement payload) =>
        Connection.InvokeAsync(HubMethods.Signal, new SignalRequest(roomId, payload)).Within();

    public Task<SyncResult> SyncAsync(string roomId, long sinceSeq, int? limit = null) =>
        Connection.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(roomId, sinceSeq, limit)).Within();

    /// <summary>Syncs from 0 page by page: the room's seq, every entry (latest per key, tombstones included) and every message.</summary>
    public async Task<(long Seq, List<Entry> Entries, List<Message> Messages)> SyncAllAsync(string roomId)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var messages = new List<Message>();
        var since = 0L;
        SyncResult page;
        var pages = 0;
        do
        {
            page = await SyncAsync(roomId, since);
            foreach (var entry in page.Entries)
            {
                entries[entry.Key] = entry;
            }
            messages.AddRange(page.Messages);
            since = page.Seq;
            Assert.True(++pages < 10_000, "Sync paging does not end");
        }
        while (page.HasMore);
        return (since, [.. entries.Values], messages);
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();
}
