using System.Data;
using System.Data.Common;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace CollabHub.Server.Store;

/// <summary><see cref="IRoomStore"/> over EF Core, for SQLite and PostgreSQL alike.</summary>
internal sealed partial class SqlRoomStore(
    IDbContextFactory<StoreDbContext> contexts,
    IStoreDialect dialect,
    TimeProvider clock,
    IOptions<CollabHubOptions> options,
    ILogger<SqlRoomStore> logger) : IRoomStore
{
    private readonly int _maxKeysPerRoom = options.Value.Limits.MaxKeysPerRoom;

    /// <summary>How many times a batch runs in all when the database rolls it back for a transient reason.</summary>
    internal const int MaxCommitAttempts = 6;

    public async Task<WriteOutcome[]> CommitAsync(IReadOnlyList<WriteCommand> writes, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await CommitOnceAsync(writes, cancellationToken);
            }
            catch (Exception ex) when (attempt < MaxCommitAttempts && dialect.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                // The transaction was rolled back, so nothing of the batch is stored or acknowledged: run it again
                // from the start (it re-reads everything) after a short, growing, jittered pause.
                LogCommitRetried(ex, writes.Count, attempt);
                var pause = TimeSpan.FromMilliseconds((5 << attempt) * (0.5 + Random.Shared.NextDouble()));
                await Task.Delay(pause, cancellationToken);
            }
        }
    }

    private async Task<WriteOutcome[]> CommitOnceAsync(IReadOnlyList<WriteCommand> writes, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.OpenConnectionAsync(cancellationToken);
        // SQLite: an immediate transaction, holding the write lock from the start. PostgreSQL: READ COMMITTED, and
        // every room of the batch is locked below before anything is read, so each statement after that sees all
        // that the room's earlier writers committed, and nothing read here can change before the commit.
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        await using var sql = new WriteTransaction(db.Database.GetDbConnection(), transaction.GetDbTransaction());
        var batch = new BatchState(writes.Count);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var outcomes = new WriteOutcome[writes.Count];

        // Lock the batch's rooms up front, in one fixed (ordinal) order: two batches that touch rooms A and B in
        // opposite orders then queue on A instead of deadlocking. The lock (the room row's, on PostgreSQL) is held to
        // the commit; it also creates the row, so two first writes to a new room queue on it as well.
        foreach (var roomId in writes.Select(w => w.RoomId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            batch.RoomSeqs[roomId] = await sql.LockRoomAsync(roomId, cancellationToken);
        }

        for (var i = 0; i < writes.Count; i++)
        {
            var write = writes[i];
            if (write.MutationId is not null && await batch.FindMutationAsync(sql, write.UserId, write.MutationId, cancellationToken) is { } seen)
            {
                outcomes[i] = seen.RoomId == write.RoomId && seen.Kind == write.Kind
                    ? StoreJson.Replay(seen)
                    : throw new MutationReusedException(write.MutationId);
                continue;
            }

            var roomSeq = batch.RoomSeqs[write.RoomId];
            outcomes[i] = write.Kind switch
            {
                WriteKind.Post => await PostAsync(sql, write, roomSeq + 1, now, cancellationToken),
                WriteKind.Batch => await WriteBatchAsync(sql, batch, write, roomSeq, now, _maxKeysPerRoom, cancellationToken),
                _ => await WriteEntryAsync(sql, batch, write, roomSeq, now, _maxKeysPerRoom, cancellationToken),
            };
            if (outcomes[i].IsNewChange)
            {
                batch.RoomSeqs[write.RoomId] = roomSeq + outcomes[i].SeqsTaken;
                batch.ChangedRooms.Add(write.RoomId);
            }

            if (write.MutationId is not null && outcomes[i].Refusal is null)
            {
                var record = new MutationRow
                {
                    UserId = write.UserId,
                    MutationId = write.MutationId,
                    RoomId = write.RoomId,
                    Kind = write.Kind,
                    ResultJson = StoreJson.Serialize(outcomes[i]),
                    At = now,
                };
                await sql.InsertMutationAsync(record, cancellationToken);
                batch.Mutations[(write.UserId, write.MutationId)] = record;
            }
        }

        foreach (var roomId in batch.ChangedRooms)
        {
            await sql.SetRoomSeqAsync(roomId, batch.RoomSeqs[roomId], cancellationToken);
        }
        foreach (var roomId in batch.LiveKeysMoved)
        {
            await sql.SetLiveKeysAsync(roomId, batch.LiveKeys[roomId], cancellationToken);
        }
        try
        {
            await transaction.CommitAsync(cancellationToken);
        }
        catch (Exception ex) when (dialect.IsCommitOutcomeUnknown(ex))
        {
            throw new CommitOutcomeUnknownException(ex);
        }
        return outcomes;
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information,
        Message = "A batch of {Count} writes was rolled back by the database (attempt {Attempt}); running it again")]
    private partial void LogCommitRetried(Exception exception, int count, int attempt);

    private static async Task<WriteOutcome> PostAsync(WriteTransaction sql, WriteCommand write, long seq, long now, CancellationToken cancellationToken)
    {
        var row = new MessageRow
        {
            RoomId = write.RoomId,
            Seq = seq,
            // Server-made: mutation ids are unique per user only, message ids per room.
            Id = Guid.NewGuid().ToString("N"),
            BodyJson = write.ValueJson!,
            By = write.UserId,
            At = now,
        };
        await sql.InsertMessageAsync(row, cancellationToken);
        return new WriteOutcome(null, new PostResult(seq, StoreJson.ToMessage(row), Duplicate: false));
    }

    private static async Task<WriteOutcome> WriteEntryAsync(
        WriteTransaction sql, BatchState batch, WriteCommand write, long roomSeq, long now, int maxKeys, CancellationToken cancellationToken)
    {
        var row = await batch.FindEntryAsync(sql, write.RoomId, write.Key!, cancellationToken);
        var live = row is { Deleted: false };
        var isDelete = write.Kind == WriteKind.Delete;

        var conflict = IsConflict(row, write.ExpectedVersion);
        if (conflict || (isDelete && !live))
        {
            // A conflict, or a delete of a key that is not there: nothing changes.
            return new WriteOutcome(new WriteResult(false, false, conflict, roomSeq, row is null ? null : StoreJson.ToEntry(row)), null);
        }

        if (!isDelete && !live && await batch.LiveKeysAsync(sql, write.RoomId, cancellationToken) >= maxKeys)
        {
            return new WriteOutcome(null, null, new WriteRefusal(ErrorCodes.TooManyKeys,
                $"room '{write.RoomId}' already has {maxKeys} keys; delete some first"));
        }
        if (live == isDelete)
        {
            await batch.AdjustLiveKeysAsync(sql, write.RoomId, isDelete ? -1 : 1, cancellationToken);
        }

        var seq = roomSeq + 1;
        row = new EntryRow
        {
            RoomId = write.RoomId,
            Key = write.Key!,
            ValueJson = isDelete ? null : write.ValueJson,
            Deleted = isDelete,
            Version = seq,
            By = write.UserId,
            At = now,
        };
        await sql.UpsertEntryAsync(row, cancellationToken);
        batch.Entries[(write.RoomId, write.Key!)] = row;
        return new WriteOutcome(new WriteResult(true, false, false, seq, StoreJson.ToEntry(row)), null);
    }

    /// <summary>
    /// Applies every operation of a batch or none: all keys are read and checked first (compare-and-set, the key
    /// limit over the batch's net change), then each operation is written with the next seq, in order. Unlike a
    /// single delete, a delete of an absent key in a batch still leaves a tombstone, so every operation takes a seq.
    /// </summary>
    private static async Task<WriteOutcome> WriteBatchAsync(
        WriteTransaction sql, BatchState batch, WriteCommand write, long roomSeq, long now, int maxKeys, CancellationToken cancellationToken)
    {
        var ops = write.Ops!;
        List<Entry>? conflicts = null;
        var conflicted = false;
        var liveKeysAdded = 0;
        foreach (var op in ops)
        {
            var row = await batch.FindEntryAsync(sql, write.RoomId, op.Key, cancellationToken);
            if (IsConflict(row, op.ExpectedVersion))
            {
                conflicted = true;
                if (row is not null)
                {
                    (conflicts ??= []).Add(StoreJson.ToEntry(row));
                }
            }
            var live = row is { Deleted: false };
            liveKeysAdded += live == op.IsDelete ? (live ? -1 : 1) : 0;
        }
        if (conflicted)
        {
            return new WriteOutcome(null, null, Batch: new BatchResult(false, false, true, roomSeq, conflicts ?? []));
        }
        if (liveKeysAdded > 0 && await batch.LiveKeysAsync(sql, write.RoomId, cancellationToken) + liveKeysAdded > maxKeys)
        {
            return new WriteOutcome(null, null, new WriteRefusal(ErrorCodes.TooManyKeys,
                $"room '{write.RoomId}' would have more than {maxKeys} keys after this batch; delete some first"));
        }
        if (liveKeysAdded != 0)
        {
            await batch.AdjustLiveKeysAsync(sql, write.RoomId, liveKeysAdded, cancellationToken);
        }

        var range = new BatchRange(roomSeq + 1, roomSeq + ops.Count);
        var entries = new Entry[ops.Count];
        for (var i = 0; i < ops.Count; i++)
        {
            var row = new EntryRow
            {
                RoomId = write.RoomId,
                Key = ops[i].Key,
                ValueJson = ops[i].ValueJson,
                Deleted = ops[i].IsDelete,
                Version = range.From + i,
                By = write.UserId,
                At = now,
            };
            await sql.UpsertEntryAsync(row, cancellationToken);
            batch.Entries[(write.RoomId, row.Key)] = row;
            entries[i] = StoreJson.ToEntry(row) with { Batch = range };
        }
        return new WriteOutcome(null, null, Batch: new BatchResult(true, false, false, range.To, entries));
    }

    /// <summary>
    /// Whether a compare-and-set fails: the key's version (0 when absent or deleted) is not the expected one; a
    /// tombstone's own version matches too.
    /// </summary>
    private static bool IsConflict(EntryRow? row, long? expectedVersion) =>
        expectedVersion is { } expected
        && expected != (row is { Deleted: false } ? row.Version : 0)
        && !(row is { Deleted: true } && expected == row.Version);

    /// <summary>What one commit has read or written so far, so later writes in the batch see earlier ones.</summary>
    private sealed class BatchState(int capacity)
    {
        /// <summary>Each room's seq as of the last write in the batch; every room of the batch is locked first.</summary>
        public Dictionary<string, long> RoomSeqs { get; } = new(StringComparer.Ordinal);

        /// <summary>The rooms whose seq this batch moves on, so only their rows are written back.</summary>
        public HashSet<string> ChangedRooms { get; } = new(StringComparer.Ordinal);
        public Dictionary<(string RoomId, string Key), EntryRow?> Entries { get; } = new(capacity);
        public Dictionary<(string UserId, string MutationId), MutationRow?> Mutations { get; } = new();

        public async ValueTask<EntryRow?> FindEntryAsync(WriteTransaction sql, string roomId, string key, CancellationToken cancellationToken)
        {
            if (!Entries.TryGetValue((roomId, key), out var row))
            {
                Entries[(roomId, key)] = row = await sql.FindEntryAsync(roomId, key, cancellationToken);
            }
            return row;
        }

        /// <summary>Live keys per room, read once per batch and kept up to date as the batch writes.</summary>
        public Dictionary<string, long> LiveKeys { get; } = new(StringComparer.Ordinal);

        /// <summary>The rooms whose live keys this batch changed, so only their counts are written back.</summary>
        public HashSet<string> LiveKeysMoved { get; } = new(StringComparer.Ordinal);

        public async ValueTask<long> LiveKeysAsync(WriteTransaction sql, string roomId, CancellationToken cancellationToken)
        {
            if (!LiveKeys.TryGetValue(roomId, out var count))
            {
                LiveKeys[roomId] = count = await sql.FindLiveKeysAsync(roomId, cancellationToken);
            }
            return count;
        }

        public async ValueTask AdjustLiveKeysAsync(WriteTransaction sql, string roomId, int delta, CancellationToken cancellationToken)
        {
            LiveKeys[roomId] = await LiveKeysAsync(sql, roomId, cancellationToken) + delta;
            LiveKeysMoved.Add(roomId);
        }

        public async ValueTask<MutationRow?> FindMutationAsync(WriteTransaction sql, string userId, string mutationId, CancellationToken cancellationToken)
        {
            if (!Mutations.TryGetValue((userId, mutationId), out var row))
            {
                Mutations[(userId, mutationId)] = row = await sql.FindMutationAsync(userId, mutationId, cancellationToken);
            }
            return row;
        }
    }

    public async Task<RoomPage> ReadAsync(RoomRead read, CancellationToken cancellationToken)
    {
        // One statement needs no transaction, and no EF Core context: a room never written and an up-to-date rejoin
        // (a reconnect storm) end here.
        await using (var connection = dialect.CreateConnection())
        {
            await connection.OpenAsync(cancellationToken);
            var seen = await ReadRoomSeqAsync(connection, null, read.RoomId, cancellationToken);
            if (EmptyPage(read, seen, IsDelta(read, seen)) is { } empty)
            {
                return empty;
            }
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await dialect.BeginSnapshotAsync(db, cancellationToken);
        // Read again in the snapshot, so the seq and the page's rows are of one moment.
        var room = await ReadRoomSeqAsync(db.Database.GetDbConnection(), transaction.GetDbTransaction(), read.RoomId, cancellationToken);
        var delta = IsDelta(read, room);
        var page = EmptyPage(read, room, delta)
            ?? (delta
                ? await ReadDeltaAsync(db, read, read.SinceSeq!.Value, room.Seq, cancellationToken)
                : await ReadFullAsync(db, read, room.Seq, cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return page;
    }

    /// <summary>Whether the read can be answered as changes since the client's seq (not purged, not past the room's seq).</summary>
    private static bool IsDelta(RoomRead read, (long Seq, long PurgedSeq) room) =>
        read.SinceSeq is { } since && since <= room.Seq && (since >= room.PurgedSeq || read.SnapshotSeq is not null);

    /// <summary>
    /// The answer when there is nothing to read: every write takes a seq, so nothing lies past the room's seq, and a
    /// client already there (or a room never written) needs no query beyond the seq's.
    /// </summary>
    private static RoomPage? EmptyPage(RoomRead read, (long Seq, long PurgedSeq) room, bool delta) =>
        (delta ? read.SinceSeq!.Value : 0) == room.Seq ? new RoomPage(room.Seq, room.Seq, !delta, [], [], false) : null;

    /// <summary>
    /// The room's seq and purged seq (zeros for a room never written), read with a plain command: every join and
    /// sync starts here, most end here (an empty room, an up-to-date rejoin), and building the LINQ query's
    /// expression tree cost more than the read itself.
    /// </summary>
    private static async Task<(long Seq, long PurgedSeq)> ReadRoomSeqAsync(DbConnection connection, DbTransaction? transaction, string roomId, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT seq, purged_seq FROM rooms WHERE id = @room";
        var room = command.CreateParameter();
        room.ParameterName = "@room";
        room.Value = roomId;
        command.Parameters.Add(room);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0), reader.GetInt64(1)) : (0, 0);
    }

    private static async Task<RoomPage> ReadFullAsync(StoreDbContext db, RoomRead read, long roomSeq, CancellationToken cancellationToken)
    {
        // The recent messages take their share of the byte budget first: a continuation never replays them, so
        // they must not be crowded out by entries (which a continuation does bring).
        var budget = new PageBudget(read.MaxBytes);
        var recent = await db.Messages.AsNoTracking()
            .Where(m => m.RoomId == read.RoomId)
            .OrderByDescending(m => m.Seq)
            .Take(read.RecentMessages)
            .ToListAsync(cancellationToken);
        var messages = new List<Message>(recent.Count);
        foreach (var row in recent)
        {
            if (!budget.TryTake(row.BodyJson.Length))
            {
                break;
            }
            messages.Add(StoreJson.ToMessage(row));
        }
        messages.Reverse();

        var rows = await db.Entries.AsNoTracking()
            .Where(e => e.RoomId == read.RoomId && !e.Deleted)
            .OrderBy(e => e.Version)
            .Take(read.Limit + 1)
            .ToListAsync(cancellationToken);
        var entries = new List<Entry>(Math.Min(rows.Count, read.Limit));
        foreach (var row in rows)
        {
            if (entries.Count == read.Limit || !budget.TryTake(row.ValueJson?.Length ?? 0))
            {
                break;
            }
            entries.Add(StoreJson.ToEntry(row));
        }
        var hasMore = entries.Count < rows.Count;
        // A partial snapshot brings the client up to its last entry (or to before its first); the rest comes through Sync.
        var position = hasMore ? (entries.Count > 0 ? entries[^1].Version : rows[0].Version - 1) : roomSeq;
        return new RoomPage(position, roomSeq, true, entries, messages, hasMore);
    }

    private static async Task<RoomPage> ReadDeltaAsync(StoreDbContext db, RoomRead read, long since, long roomSeq, CancellationToken cancellationToken)
    {
        var entryRows = await db.Entries.AsNoTracking()
            .Where(e => e.RoomId == read.RoomId && e.Version > since)
            .OrderBy(e => e.Version)
            .Take(read.Limit + 1)
            .ToListAsync(cancellationToken);
        var messagesAfter = Math.Max(since, read.SnapshotSeq ?? 0);
        var messageRows = await db.Messages.AsNoTracking()
            .Where(m => m.RoomId == read.RoomId && m.Seq > messagesAfter)
            .OrderBy(m => m.Seq)
            .Take(read.Limit + 1)
            .ToListAsync(cancellationToken);

        // Merge the two seq-ordered lists and keep a prefix of the room's history within the page's limits.
        var budget = new PageBudget(read.MaxBytes);
        var entries = new List<Entry>();
        var messages = new List<Message>();
        int e = 0, m = 0;
        long position = since;
        while (entries.Count + messages.Count < read.Limit && (e < entryRows.Count || m < messageRows.Count))
        {
            if (m >= messageRows.Count || (e < entryRows.Count && entryRows[e].Version < messageRows[m].Seq))
            {
                if (!budget.TryTake(entryRows[e].ValueJson?.Length ?? 0))
                {
                    break;
                }
                position = entryRows[e].Version;
                entries.Add(StoreJson.ToEntry(entryRows[e++]));
            }
            else
            {
                if (!budget.TryTake(messageRows[m].BodyJson.Length))
                {
                    break;
                }
                position = messageRows[m].Seq;
                messages.Add(StoreJson.ToMessage(messageRows[m++]));
            }
        }
        var hasMore = e < entryRows.Count || m < messageRows.Count;
        return new RoomPage(hasMore ? position : roomSeq, roomSeq, false, entries, messages, hasMore);
    }

    /// <summary>Bounds the JSON an answer carries; the first item of a page always fits, so paging always moves on.</summary>
    private sealed class PageBudget(int maxBytes)
    {
        private long _used;

        public bool TryTake(int length)
        {
            if (_used > 0 && _used + length > maxBytes)
            {
                return false;
            }
            _used += length;
            return true;
        }
    }

    public async Task<PurgeResult> PurgeAsync(DateTimeOffset tombstonesBefore, DateTimeOffset mutationsBefore, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var tombstoneCutoff = tombstonesBefore.ToUnixTimeMilliseconds();
        var horizons = await db.Entries
            .Where(e => e.Deleted && e.At < tombstoneCutoff)
            .GroupBy(e => e.RoomId)
            .Select(g => new { RoomId = g.Key, MaxVersion = g.Max(e => e.Version) })
            .ToListAsync(cancellationToken);
        // Room rows are locked in the order commits lock them (ordinal), so a purge and a commit cannot deadlock.
        foreach (var horizon in horizons.OrderBy(h => h.RoomId, StringComparer.Ordinal))
        {
            await db.Rooms
                .Where(r => r.Id == horizon.RoomId && r.PurgedSeq < horizon.MaxVersion)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.PurgedSeq, horizon.MaxVersion), cancellationToken);
        }
        var tombstones = await db.Entries.Where(e => e.Deleted && e.At < tombstoneCutoff).ExecuteDeleteAsync(cancellationToken);
        var mutationCutoff = mutationsBefore.ToUnixTimeMilliseconds();
        var mutations = await db.Mutations.Where(m => m.At < mutationCutoff).ExecuteDeleteAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new PurgeResult(tombstones, mutations);
    }

    public async Task<int> PurgeMessagesAsync(MessageRetention retention, CancellationToken cancellationToken)
    {
        var deleted = 0;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Rooms over the count, and rooms with messages older than the age: each is cut in its own short transactions.
        var overCount = await db.Messages.GroupBy(m => m.RoomId).Where(g => g.Count() > retention.KeepPerRoom)
            .Select(g => g.Key).ToListAsync(cancellationToken);
        var tooOld = retention.OlderThan is { } olderThan
            ? await db.Messages.Where(m => m.At < olderThan.ToUnixTimeMilliseconds()).Select(m => m.RoomId).Distinct().ToListAsync(cancellationToken)
            : [];
        foreach (var roomId in overCount.Union(tooOld).Order(StringComparer.Ordinal))
        {
            var countCut = await db.Messages.Where(m => m.RoomId == roomId).OrderByDescending(m => m.Seq)
                .Skip(retention.KeepPerRoom).Select(m => (long?)m.Seq).FirstOrDefaultAsync(cancellationToken) ?? 0;
            var ageCut = retention.OlderThan is { } before
                ? await db.Messages.Where(m => m.RoomId == roomId && m.At < before.ToUnixTimeMilliseconds())
                    .MaxAsync(m => (long?)m.Seq, cancellationToken) ?? 0
                : 0;
            deleted += await CutMessagesAsync(db, roomId, Math.Max(countCut, ageCut), retention.BatchSize, cancellationToken);
        }
        return deleted;
    }

    /// <summary>
    /// Deletes a room's messages up to <paramref name="upToSeq"/>, a batch per transaction so writes are held up only
    /// briefly. The room's purge horizon is raised first: a delta read from below it, which could no longer be
    /// complete, is answered with a full snapshot instead.
    /// </summary>
    private static async Task<int> CutMessagesAsync(StoreDbContext db, string roomId, long upToSeq, int batchSize, CancellationToken cancellationToken)
    {
        await db.Rooms.Where(r => r.Id == roomId && r.PurgedSeq < upToSeq)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.PurgedSeq, upToSeq), cancellationToken);
        var deleted = 0;
        while (true)
        {
            var lowest = await db.Messages.Where(m => m.RoomId == roomId && m.Seq <= upToSeq).OrderBy(m => m.Seq)
                .Skip(batchSize - 1).Select(m => (long?)m.Seq).FirstOrDefaultAsync(cancellationToken) ?? upToSeq;
            var batch = await db.Messages.Where(m => m.RoomId == roomId && m.Seq <= lowest).ExecuteDeleteAsync(cancellationToken);
            deleted += batch;
            if (batch == 0 || lowest >= upToSeq)
            {
                return deleted;
            }
        }
    }
}

/// <summary>A mutation id came back for another room or operation than the one it was first used for.</summary>
internal sealed class MutationReusedException(string mutationId)
    : CollabException(ErrorCodes.MutationReused, $"mutation id '{mutationId}' was already used for another room or operation")
{
}

/// <summary>
/// The connection broke during COMMIT: the batch may or may not be stored. It is not retried (it could be applied
/// twice) and not acknowledged; a client that retries with the same mutation id gets the first outcome if it was stored.
/// </summary>
/// Unlike other failures, the write may have been stored: only a retry with the same mutation id is safe.
internal sealed class CommitOutcomeUnknownException(Exception inner)
    : CollabException(ErrorCodes.Unavailable,
        "the database connection broke while committing; the write may or may not be applied: retry it with the same mutationId", inner)
{
}
