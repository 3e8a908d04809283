using CollabHub.Server.Configuration;
using CollabHub.Server.Telemetry;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Backplane;

/// <summary>
/// How events reach this instance's connections: each write is started at once and never awaited by the sender, so
/// a hub call (or a commit, or a backplane message) never waits for a slow reader. What a connection has not taken
/// yet waits in its own queue (SignalR's per-connection write lock and transport buffer); the number of writes
/// waiting is counted per connection and bounded by <see cref="LimitsOptions.MaxPendingEventsPerConnection"/>: a
/// connection that falls that far behind is closed (logged once), and its client reconnects and catches up with
/// <c>sinceSeq</c>. So a member that stops reading costs memory for at most that many events, and nobody else's time.
/// </summary>
internal sealed partial class ConnectionOutbox(IOptions<CollabHubOptions> options, ILogger<ConnectionOutbox> logger, CollabHubMetrics metrics)
{
    private readonly int _maxPending = options.Value.Limits.MaxPendingEventsPerConnection;

    /// <summary>Gives a new connection its counter; call before it can receive anything.</summary>
    public static void Attach(HubConnectionContext connection) => connection.Features.Set(new Pending());

    /// <summary>Starts the write of <paramref name="message"/> to <paramref name="connection"/>, in call order per connection.</summary>
    public void Write(HubConnectionContext connection, SerializedHubMessage message)
    {
        if (connection.Features.Get<Pending>() is not { } pending)
        {
            return; // Not attached: the connection is closing or was never ours.
        }
        if (Interlocked.Increment(ref pending.Count) > _maxPending)
        {
            Interlocked.Decrement(ref pending.Count);
            if (Interlocked.Exchange(ref pending.Overflowed, 1) == 0)
            {
                LogOverflow(connection.ConnectionId, connection.UserIdentifier, _maxPending);
                connection.Abort();
            }
            return;
        }
        ValueTask write;
        try
        {
            write = connection.WriteAsync(message);
        }
        catch (Exception ex)
        {
            Interlocked.Decrement(ref pending.Count);
            LogWriteFailed(ex, connection.ConnectionId);
            return;
        }
        metrics.EventSent();
        if (write.IsCompletedSuccessfully)
        {
            Interlocked.Decrement(ref pending.Count);
        }
        else
        {
            _ = CompleteAsync(write, pending, connection.ConnectionId);
        }
    }

    private async Task CompleteAsync(ValueTask write, Pending pending, string connectionId)
    {
        try
        {
            await write;
        }
        catch (Exception ex)
        {
            LogWriteFailed(ex, connectionId);
        }
        finally
        {
            Interlocked.Decrement(ref pending.Count);
        }
    }

    /// <summary>The writes to one connection not yet taken by its transport.</summary>
    private sealed class Pending
    {
        public int Count;
        public int Overflowed;
    }

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning,
        Message = "Closed connection {ConnectionId} of user {UserId}: it fell {Max} events behind (it stopped reading, or reads too slowly); its client reconnects and catches up")]
    private partial void LogOverflow(string connectionId, string? userId, int max);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Debug, Message = "Writing an event to connection {ConnectionId} failed")]
    private partial void LogWriteFailed(Exception exception, string connectionId);
}
