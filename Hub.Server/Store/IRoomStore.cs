using CollabHub.Protocol;

namespace CollabHub.Server.Store;

/// <summary>
/// The versioned store: per room, a last-writer-wins key/JSON map with tombstones and a message log,
/// all ordered by one gapless sequence counter.
/// </summary>
/// <remarks>
/// Guarantees every implementation keeps:
/// <list type="bullet">
/// <item>Every applied write (set, delete, post) takes its room's next seq inside the transaction that stores it, so
/// seqs are strictly increasing and gapless per room, across processes sharing the database.</item>
/// <item><see cref="CommitAsync"/> is all or nothing: when it returns, every outcome is durable; when it throws,
/// nothing of the batch is stored (except <see cref="CommitOutcomeUnknownException"/>: the connection broke during the
/// commit, which may have been applied). A batch the database rolls back for a transient reason (a deadlock, a
/// serialization failure) is run again inside, a bounded number of times.</item>
/// <item>A key's version is the seq of its last write; a delete leaves a tombstone with its own version.</item>
/// <item>A write with an expected version applies only if the key's current version equals it (0 = absent or
/// deleted); otherwise it is a conflict and stores nothing but the mutation record.</item>
/// <item>A write with a mutation id is applied at most once per user: a retry gets the first outcome back,
/// marked duplicate, for as long as the mutation record is kept.</item>
/// <item>A batch (<see cref="WriteKind.Batch"/>) is one write: all its operations apply, taking consecutive seqs
/// in order, or none does (a compare-and-set that fails, or the key limit, refuses the whole batch).</item>
/// </list>
/// </remarks>
internal interface IRoomStore
{
    /// <summary>Applies the writes in order, in one transaction.</summary>
    Task<WriteOutcome[]> CommitAsync(IReadOnlyList<WriteCommand> writes, CancellationToken cancellationToken);

    /// <summary>
    /// Reads a consistent page of a room: a delta after <paramref name="sinceSeq"/> when it is within the purge
    /// horizon and not ahead of the room, otherwise a full snapshot of live entries and the recent messages.
    /// </summary>
    Task<RoomPage> ReadAsync(RoomRead read, CancellationToken cancellationToken);

    /// <summary>Deletes tombstones and mutation records older than the given times; raises each room's purge horizon.</summary>
    Task<PurgeResult> PurgeAsync(DateTimeOffset tombstonesBefore, DateTimeOffset mutationsBefore, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the messages a room no longer keeps (beyond the newest <see cref="MessageRetention.KeepPerRoom"/>, or
    /// older than <see cref="MessageRetention.OlderThan"/>) in small batches; raises each such room's purge horizon
    /// to its newest deleted message first. Returns how many were deleted.
    /// </summary>
    Task<int> PurgeMessagesAsync(MessageRetention retention, CancellationToken cancellationToken);
}

/// <summary>Which messages rooms keep: the newest <paramref name="KeepPerRoom"/>, none older than <paramref name="OlderThan"/>.</summary>
internal sealed record MessageRetention(int KeepPerRoom, DateTimeOffset? OlderThan, int BatchSize);

/// <summary>
/// A write for <see cref="IRoomStore.CommitAsync"/>. <see cref="ValueJson"/> is the value (Set) or body (Post);
/// a <see cref="WriteKind.Batch"/> carries its <see cref="Ops"/> instead of a key and value.
/// </summary>
internal sealed record WriteCommand(
    WriteKind Kind,
    string RoomId,
    string UserId,
    string? Key,
    string? ValueJson,
    string? MutationId,
    long? ExpectedVersion,
    IReadOnlyList<BatchOperation>? Ops = null);

/// <summary>One operation of a batch: a set (<see cref="ValueJson"/>) or a delete (<see cref="ValueJson"/> null) of a key.</summary>
internal sealed record BatchOperation(string Key, string? ValueJson, long? ExpectedVersion)
{
    public bool IsDelete => ValueJson is null;
}

/// <summary>
/// What one write came to: <see cref="Write"/> for a set or delete, <see cref="Post"/> for a post,
/// <see cref="Batch"/> for a batch, or a <see cref="Refusal"/> (a limit such as keys per room) that stored nothing and
/// is not recorded for replays.
/// </summary>
internal readonly record struct WriteOutcome(WriteResult? Write, PostResult? Post, WriteRefusal? Refusal = null, BatchResult? Batch = null)
{
    /// <summary>True when this call changed the store now, so the change is to be broadcast.</summary>
    public bool IsNewChange => Write is { Applied: true, Duplicate: false } || Post is { Duplicate: false } || Batch is { Applied: true, Duplicate: false };

    /// <summary>How many seqs this call took now: one per change, so a batch's operation count.</summary>
    public int SeqsTaken => !IsNewChange ? 0 : Batch?.Entries.Count ?? 1;
}

/// <summary>
/// The store's answer when a rule checked inside the transaction (keys per room) refuses one write: a result, not an
/// exception, so that the other writes of its group commit go on. <c>RoomService</c> throws it as a
/// <see cref="CollabException"/>.
/// </summary>
internal sealed record WriteRefusal(string Code, string Detail);

/// <param name="SinceSeq">The client's position; null asks for a full snapshot.</param>
/// <param name="Limit">Most entries plus messages in a delta; most entries in a full snapshot.</param>
/// <param name="MaxBytes">Most bytes of values and bodies in the answer; an answer always has at least one item.</param>
/// <param name="RecentMessages">How many recent messages a full snapshot carries.</param>
/// <param name="SnapshotSeq">
/// Set when continuing a paged full snapshot taken when the room was at this seq: the purge horizon does not
/// apply (the client holds nothing older than the snapshot), and messages up to it are skipped (the snapshot
/// carried the recent ones; older history is not replayed).
/// </param>
internal sealed record RoomRead(string RoomId, long? SinceSeq, int Limit, int MaxBytes, int RecentMessages, long? SnapshotSeq = null);

/// <param name="Seq">The position the page brings the client up to.</param>
/// <param name="SnapshotSeq">The room's seq when the page was read.</param>
internal sealed record RoomPage(long Seq, long SnapshotSeq, bool Full, IReadOnlyList<Entry> Entries, IReadOnlyList<Message> Messages, bool HasMore);

internal readonly record struct PurgeResult(int Tombstones, int Mutations);
