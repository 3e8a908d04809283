using CollabHub.Protocol;
using CollabHub.Server.Hubs;
using CollabHub.Server.Store;
using CollabHub.Server.Telemetry;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Sends every event to a room's SignalR group. The group is the room id; the <see cref="HubLifetimeManager{THub}"/>
/// behind <see cref="IHubContext{THub}"/> (in-process, or the Redis backplane) carries it to every instance.
/// Sends are started in call order and not awaited: a slow client must not hold up the commit loop, and a client
/// that misses or reorders an event repairs it with Sync (events carry seqs).
/// </summary>
internal sealed partial class RoomBroadcaster(IHubContext<RoomsHub> hub, ILogger<RoomBroadcaster> logger) : ICommitObserver
{
    public void OnCommitted(WriteCommand command, WriteOutcome outcome)
    {
        using var activity = CollabHubActivities.StartBroadcast(command.RoomId);
        var room = hub.Clients.Group(command.RoomId);
        if (outcome.Batch is { } batch)
        {
            // One Changed per operation, as for single writes (each entry carries the batch's seq range).
            foreach (var entry in batch.Entries)
            {
                Observe(room.SendAsync(HubEvents.Changed, command.RoomId, entry), command.RoomId);
            }
            return;
        }
        var send = outcome.Post is { } post
            ? room.SendAsync(HubEvents.Posted, command.RoomId, post.Message)
            : room.SendAsync(HubEvents.Changed, command.RoomId, outcome.Write!.Entry);
        Observe(send, command.RoomId);
    }

    public void PresenceDelta(string roomId, PresenceDelta delta) =>
        Observe(hub.Clients.Group(roomId).SendAsync(HubEvents.PresenceDelta, roomId, delta), roomId);

    /// <summary>Not awaited either: a member that does not read its socket must not hold up the sender's calls.</summary>
    public void Signal(string roomId, string senderConnectionId, SignalEvent signal) =>
        Observe(hub.Clients.GroupExcept(roomId, senderConnectionId).SendAsync(HubEvents.Signaled, roomId, signal), roomId);

    private void Observe(Task send, string roomId)
    {
        if (send.IsCompletedSuccessfully)
        {
            return;
        }
        send.ContinueWith(
            static (task, state) =>
            {
                var (self, room) = ((RoomBroadcaster, string))state!;
                self.LogSendFailed(task.Exception!.GetBaseException(), room);
            },
            (this, roomId),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Sending an event to room {RoomId} failed")]
    private partial void LogSendFailed(Exception exception, string roomId);
}
