using Microsoft.EntityFrameworkCore;

namespace CollabHub.Server.Store;

/// <summary>
/// Brings the database to the schema this build expects, at start-up, under an exclusive transaction so that
/// several server processes starting at once do it exactly once. EF Core's design-time tools are not available,
/// so migrations are plain steps here: step N takes the schema from version N-1 to N.
/// </summary>
internal sealed partial class SchemaMigrator(IDbContextFactory<StoreDbContext> contexts, IStoreDialect dialect, ILogger<SchemaMigrator> logger)
{
    /// <summary>
    /// Step 1 creates the schema from the current EF model, so a new database gets every table at once; later steps
    /// bring an older database there. They are appended here, never edited, and written so that they do nothing
    /// where step 1 already did the work (<c>IF NOT EXISTS</c>), in SQL that SQLite and PostgreSQL both run.
    /// </summary>
    private static readonly Func<StoreDbContext, string>[] Steps =
    [
        db => db.Database.GenerateCreateScript(),
        // 2: room access for private rooms.
        _ => """
            CREATE TABLE IF NOT EXISTS room_access (
                room_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                role INTEGER NOT NULL,
                CONSTRAINT "PK_room_access" PRIMARY KEY (room_id, user_id))
            """,
        // 3: claims of private rooms, kept for good; every room with access rows was claimed by its first owner.
        _ => """
            CREATE TABLE IF NOT EXISTS room_claims (
                room_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                "at" BIGINT NOT NULL,
                CONSTRAINT "PK_room_claims" PRIMARY KEY (room_id));
            INSERT INTO room_claims (room_id, user_id, "at")
                SELECT a.room_id, min(a.user_id), 0 FROM room_access a
                WHERE NOT EXISTS (SELECT 1 FROM room_claims c WHERE c.room_id = a.room_id)
                GROUP BY a.room_id
            """,
        // 4: each room's count of live keys, which the key limit used to count over the room's entries at every commit.
        _ => """
            CREATE TABLE IF NOT EXISTS room_keys (
                room_id TEXT NOT NULL,
                live BIGINT NOT NULL,
                CONSTRAINT "PK_room_keys" PRIMARY KEY (room_id));
            INSERT INTO room_keys (room_id, live)
                SELECT e.room_id, count(*) FROM entries e
                WHERE e.deleted = FALSE AND NOT EXISTS (SELECT 1 FROM room_keys k WHERE k.room_id = e.room_id)
                GROUP BY e.room_id
            """,
    ];

    public static int CurrentVersion => Steps.Length;

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var (transaction, hasSchema) = await dialect.BeginExclusiveAsync(db, cancellationToken);
        await using (transaction)
        {
            var version = 0;
            if (hasSchema)
            {
                version = await db.SchemaInfo.Where(s => s.Id == 1).Select(s => s.Version).FirstOrDefaultAsync(cancellationToken);
            }
            if (version > CurrentVersion)
            {
                throw new InvalidOperationException(
                    $"The database has schema version {version}, newer than this build's {CurrentVersion}. Run a newer CollabHub release.");
            }
            for (var step = version; step < CurrentVersion; step++)
            {
                await db.Database.ExecuteSqlRawAsync(Steps[step](db), cancellationToken);
            }
            if (version < CurrentVersion)
            {
                await db.Database.ExecuteSqlRawAsync(
                    "DELETE FROM schema_info; INSERT INTO schema_info (id, version) VALUES (1, {0});", [CurrentVersion], cancellationToken);
                LogMigrated(version, CurrentVersion);
            }
            await transaction.CommitAsync(cancellationToken);
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Store schema migrated from version {From} to {To}")]
    private partial void LogMigrated(int from, int to);
}
