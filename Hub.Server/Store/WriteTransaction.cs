using System.Data.Common;
using CollabHub.Protocol;

namespace CollabHub.Server.Store;

/// <summary>
/// The statements of one commit, prepared once per transaction and run with new parameter values for each write:
/// the hot path skips EF Core's query pipeline and change tracking. The SQL is the common subset of SQLite and
/// PostgreSQL (upserts with <c>ON CONFLICT</c>, <c>RETURNING</c>, <c>@name</c> parameters).
/// </summary>
internal sealed class WriteTransaction : IAsyncDisposable
{
    private readonly DbCommand _lockRoom;
    private readonly DbCommand _setRoomSeq;
    private readonly DbCommand _findEntry;
    private readonly DbCommand _upsertEntry;
    private readonly DbCommand _insertMessage;
    private readonly DbCommand _findLiveKeys;
    private readonly DbCommand _setLiveKeys;
    private readonly DbCommand _findMutation;
    private readonly DbCommand _insertMutation;

    public WriteTransaction(DbConnection connection, DbTransaction transaction)
    {
        // Creating the room row if needed and touching it locks it until the commit (PostgreSQL); SQLite's
        // immediate transaction already holds the database's write lock.
        _lockRoom = Command(connection, transaction,
            "INSERT INTO rooms (id, seq, purged_seq) VALUES (@room, 0, 0) ON CONFLICT (id) DO UPDATE SET seq = rooms.seq RETURNING seq",
            "room");
        _setRoomSeq = Command(connection, transaction, "UPDATE rooms SET seq = @seq WHERE id = @room", "room", "seq");
        _findEntry = Command(connection, transaction,
            """SELECT value_json, version, deleted, "by", "at" FROM entries WHERE room_id = @room AND "key" = @key""",
            "room", "key");
        _upsertEntry = Command(connection, transaction,
            """
            INSERT INTO entries (room_id, "key", value_json, version, deleted, "by", "at") VALUES (@room, @key, @value, @version, @deleted, @by, @at)
            ON CONFLICT (room_id, "key") DO UPDATE SET value_json = excluded.value_json, version = excluded.version,
                deleted = excluded.deleted, "by" = excluded."by", "at" = excluded."at"
            """,
            "room", "key", "value", "version", "deleted", "by", "at");
        _insertMessage = Command(connection, transaction,
            """INSERT INTO messages (room_id, seq, id, body_json, "by", "at") VALUES (@room, @seq, @id, @body, @by, @at)""",
            "room", "seq", "id", "body", "by", "at");
        _findLiveKeys = Command(connection, transaction, "SELECT live FROM room_keys WHERE room_id = @room", "room");
        _setLiveKeys = Command(connection, transaction,
            "INSERT INTO room_keys (room_id, live) VALUES (@room, @live) ON CONFLICT (room_id) DO UPDATE SET live = excluded.live",
            "room", "live");
        _findMutation = Command(connection, transaction,
            "SELECT room_id, kind, result_json FROM mutations WHERE user_id = @user AND mutation_id = @mutation",
            "user", "mutation");
        _insertMutation = Command(connection, transaction,
            """INSERT INTO mutations (user_id, mutation_id, room_id, kind, result_json, "at") VALUES (@user, @mutation, @room, @kind, @result, @at)""",
            "user", "mutation", "room", "kind", "result", "at");
    }

    public async Task<long> LockRoomAsync(string roomId, CancellationToken cancellationToken)
    {
        Bind(_lockRoom, roomId);
        return Convert.ToInt64(await _lockRoom.ExecuteScalarAsync(cancellationToken));
    }

    public Task SetRoomSeqAsync(string roomId, long seq, CancellationToken cancellationToken)
    {
        Bind(_setRoomSeq, roomId, seq);
        return _setRoomSeq.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<EntryRow?> FindEntryAsync(string roomId, string key, CancellationToken cancellationToken)
    {
        Bind(_findEntry, roomId, key);
        await using var reader = await _findEntry.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new EntryRow
        {
            RoomId = roomId,
            Key = key,
            ValueJson = reader.IsDBNull(0) ? null : reader.GetString(0),
            Version = reader.GetInt64(1),
            Deleted = reader.GetBoolean(2),
            By = reader.GetString(3),
            At = reader.GetInt64(4),
        };
    }

    /// <summary>The room's live keys as of its last commit (0 for a room never written).</summary>
    public async Task<long> FindLiveKeysAsync(string roomId, CancellationToken cancellationToken)
    {
        Bind(_findLiveKeys, roomId);
        return await _findLiveKeys.ExecuteScalarAsync(cancellationToken) is { } live ? Convert.ToInt64(live) : 0;
    }

    public Task SetLiveKeysAsync(string roomId, long live, CancellationToken cancellationToken)
    {
        Bind(_setLiveKeys, roomId, live);
        return _setLiveKeys.ExecuteNonQueryAsync(cancellationToken);
    }

    public Task UpsertEntryAsync(EntryRow row, CancellationToken cancellationToken)
    {
        Bind(_upsertEntry, row.RoomId, row.Key, row.ValueJson, row.Version, row.Deleted, row.By, row.At);
        return _upsertEntry.ExecuteNonQueryAsync(cancellationToken);
    }

    public Task InsertMessageAsync(MessageRow row, CancellationToken cancellationToken)
    {
        Bind(_insertMessage, row.RoomId, row.Seq, row.Id, row.BodyJson, row.By, row.At);
        return _insertMessage.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<MutationRow?> FindMutationAsync(string userId, string mutationId, CancellationToken cancellationToken)
    {
        Bind(_findMutation, userId, mutationId);
        await using var reader = await _findMutation.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new MutationRow
        {
            UserId = userId,
            MutationId = mutationId,
            RoomId = reader.GetString(0),
            Kind = (WriteKind)reader.GetInt32(1),
            ResultJson = reader.GetString(2),
        };
    }

    public Task InsertMutationAsync(MutationRow row, CancellationToken cancellationToken)
    {
        Bind(_insertMutation, row.UserId, row.MutationId, row.RoomId, (int)row.Kind, row.ResultJson, row.At);
        return _insertMutation.ExecuteNonQueryAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var command in (DbCommand[])[_lockRoom, _setRoomSeq, _findEntry, _upsertEntry, _insertMessage, _findLiveKeys, _setLiveKeys, _findMutation, _insertMutation])
        {
            await command.DisposeAsync();
        }
    }

    private static DbCommand Command(DbConnection connection, DbTransaction transaction, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + name;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    private static void Bind(DbCommand command, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }
    }
}
