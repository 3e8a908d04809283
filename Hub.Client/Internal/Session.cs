using CollabHub.Protocol;

namespace CollabHub.Client.Internal;

/// <summary>
/// One connection of a <see cref="CollabClient"/>, from its handshake to its end. Rooms are joined on it, writes are
/// sent on it, and everything it answers after it ended is ignored (or, for a write's answer, still taken).
/// </summary>
internal sealed class Session(CollabConnection connection, long epoch) : IRoomChannel
{
    private readonly TaskCompletionSource<Exception?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CollabConnection Connection => connection;

    public long Epoch => epoch;

    /// <summary>Completes when the connection closed or was given up, with the error, if any.</summary>
    public Task<Exception?> Closed => _closed.Task;

    public bool IsClosed => _closed.Task.IsCompleted;

    /// <summary>The ordering gates (room + key, or room for posts) of the writes in flight; guarded by the <see cref="WriteQueue"/>'s lock.</summary>
    public HashSet<string> Gates { get; } = new(StringComparer.Ordinal);

    /// <summary>How many writes are in flight; guarded by the <see cref="WriteQueue"/>'s lock.</summary>
    public int InFlight { get; set; }

    /// <summary>Ends the session: the client's loop disposes the connection and reconnects.</summary>
    public void Abort(Exception? error) => _closed.TrySetResult(error);

    public Task<JoinResult> JoinAsync(string roomId, long? sinceSeq) => connection.JoinAsync(roomId, sinceSeq);

    public Task<SyncResult> SyncAsync(string roomId, long sinceSeq, int? limit) => connection.SyncAsync(roomId, sinceSeq, limit);

    public override string ToString() => $"connection #{epoch}";
}
