using System.Text.Json;
using CollabHub.Protocol;
using Microsoft.Extensions.Logging;

namespace CollabHub.Client.Internal;

/// <summary>One connection as a room's replica sees it: where its Join and Sync calls go.</summary>
internal interface IRoomChannel
{
    Task<JoinResult> JoinAsync(string roomId, long? sinceSeq);

    Task<SyncResult> SyncAsync(string roomId, long sinceSeq, int? limit);
}

/// <summary>What a <see cref="CollabRoom"/> needs from its client (the <see cref="RoomRegistry"/>): settings, the write queue, and where to report.</summary>
internal interface IRoomOwner
{
    Notifier Notifier { get; }

    ILogger Logger { get; }

    int MaxMessages { get; }

    int? SyncPageSize { get; }

    TimeSpan AnsweredSeqGrace { get; }

    /// <summary>The wait before the room asks again after a temporary refusal (retry number <paramref name="attempt"/>, from 1).</summary>
    TimeSpan RetryDelay(int attempt);

    /// <summary>The room's Join on <paramref name="channel"/> was answered and applied: its queued writes may go.</summary>
    void RoomJoined(CollabRoom room, IRoomChannel channel);

    /// <summary>The server refused to let the room be joined, for good (e.g. <c>invalid_room</c>, <c>too_many_rooms</c>).</summary>
    void RoomRefused(CollabRoom room, CollabHubException error);

    /// <summary>A Join or Sync on <paramref name="channel"/> failed in a way a new connection may cure.</summary>
    void ChannelFaulted(CollabRoom room, IRoomChannel channel, Exception error);

    /// <summary>Raises the client-wide counterparts of the room's events; called where the room raises its own.</summary>
    void OnChanged(CollabRoom room, EntryChange change);

    void OnPosted(CollabRoom room, Message message);

    void OnPresenceChanged(CollabRoom room, IReadOnlyList<PresenceEntry> presence);

    void OnSignaled(CollabRoom room, SignalEvent signal);

    Task<WriteResult> SetAsync(CollabRoom room, string key, JsonElement value, WriteOptions? options, CancellationToken cancellationToken);

    Task<WriteResult> DeleteAsync(CollabRoom room, string key, WriteOptions? options, CancellationToken cancellationToken);

    Task<PostResult> PostAsync(CollabRoom room, JsonElement body, string? mutationId, CancellationToken cancellationToken);

    Task<BatchResult> BatchAsync(CollabRoom room, IReadOnlyList<BatchOp> ops, string? mutationId, CancellationToken cancellationToken);

    Task<bool> SignalAsync(CollabRoom room, JsonElement payload, CancellationToken cancellationToken);

    Task LeaveAsync(CollabRoom room, CancellationToken cancellationToken);
}
