using System.Collections.Concurrent;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Turns the presence changes made on this instance into <c>PresenceDelta</c> events, coalesced per room: the first
/// change of a quiet room starts a wait of <see cref="PresenceOptions.BroadcastInterval"/>; the users changed meanwhile
/// are then read once (their entries as they stand, not the history) and sent in one delta to the room's group, which
/// the backplane carries to every instance. Each change is sent by the instance that made it, so it reaches every
/// member once; two instances coalesce apart, so a room changing on both gets a delta from each.
/// </summary>
/// <remarks>
/// One sender per room at a time, so a room's deltas from one instance leave in order. The work per delta is the
/// number of users changed, whatever the room's size; above <see cref="PresenceOptions.MaxListed"/> users a delta
/// carries only the count, and when the room comes back under it, the whole list once (<c>full</c>).
/// Pending changes are bounded by the rooms and users present on this instance.
/// </remarks>
internal sealed partial class PresenceDeltas : IHostedService
{
    private readonly ConcurrentDictionary<string, PendingRoom> _pending = new(StringComparer.Ordinal);
    private readonly IPresenceTracker _tracker;
    private readonly RoomBroadcaster _broadcaster;
    private readonly PresenceOptions _options;
    private readonly ILogger<PresenceDeltas> _logger;
    private readonly CancellationTokenSource _stopping = new();

    public PresenceDeltas(IPresenceTracker tracker, RoomBroadcaster broadcaster, IOptions<CollabHubOptions> options, ILogger<PresenceDeltas> logger)
    {
        _tracker = tracker;
        _broadcaster = broadcaster;
        _options = options.Value.Presence;
        _logger = logger;
        // Subscribed at construction (a hosted service is built at start-up), before the tracker's own work begins.
        _tracker.Changed += OnChanged;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Sends what is pending at once rather than after the wait (the connections closed at shutdown, and the
    /// tracker's last leave, stopped before this), and waits for it as long as the host allows.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        Task[] senders = [.. _pending.Values.Select(room => room.Sender)];
        await Task.WhenAll(senders).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void OnChanged(string roomId, string userId)
    {
        while (true)
        {
            var room = _pending.GetOrAdd(roomId, static _ => new PendingRoom());
            lock (room)
            {
                // A room whose sender finished concurrently was removed from the map: start again with a live one.
                if (room.Finished)
                {
                    continue;
                }
                room.Users.Add(userId);
                if (!room.Sender.IsCompleted)
                {
                    return;
                }
                // Runs to its first await without taking the lock, so it may start under it.
                room.Sender = SendAsync(roomId, room);
            }
            return;
        }
    }

    /// <summary>Waits, then sends what gathered; again while changes keep coming; ends when a wait gathered nothing.</summary>
    private async Task SendAsync(string roomId, PendingRoom room)
    {
        try
        {
            while (true)
            {
                if (_options.BroadcastInterval > TimeSpan.Zero && !_stopping.IsCancellationRequested)
                {
                    await Task.Delay(_options.BroadcastInterval, _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
                else
                {
                    // Not on the caller's stack: the change's own call (a join, a leave) goes on at once.
                    await Task.Yield();
                }
                string[] users;
                lock (room)
                {
                    if (room.Users.Count == 0)
                    {
                        room.Finished = true;
                        _pending.TryRemove(new KeyValuePair<string, PendingRoom>(roomId, room));
                        return;
                    }
                    users = [.. room.Users];
                    room.Users.Clear();
                }
                _broadcaster.PresenceDelta(roomId, await DeltaAsync(roomId, users).ConfigureAwait(false));
            }
        }
        catch (Exception ex)
        {
            // Logged, and the room left for the next change to start a new sender; the users read here are not resent.
            LogDeltaFailed(ex, roomId);
            lock (room)
            {
                room.Finished = true;
                _pending.TryRemove(new KeyValuePair<string, PendingRoom>(roomId, room));
            }
        }
    }

    private async Task<PresenceDelta> DeltaAsync(string roomId, string[] users)
    {
        var changes = await _tracker.ReadAsync(roomId, users, _options.MaxListed).ConfigureAwait(false);
        if (changes.Count > _options.MaxListed)
        {
            return new PresenceDelta(null, null, changes.Count);
        }
        if (changes.Relisted)
        {
            var listing = await _tracker.ListAsync(roomId, _options.MaxListed).ConfigureAwait(false);
            return new PresenceDelta(listing.Entries, [], listing.Count, Full: true);
        }
        return new PresenceDelta(changes.Present, changes.Gone, changes.Count);
    }

    private sealed class PendingRoom
    {
        public HashSet<string> Users { get; } = new(StringComparer.Ordinal);

        /// <summary>The room's sender; while it runs, changes only join its set.</summary>
        public Task Sender { get; set; } = Task.CompletedTask;

        public bool Finished { get; set; }
    }

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Sending a presence delta to room {RoomId} failed; its next change sends again")]
    private partial void LogDeltaFailed(Exception exception, string roomId);
}
