using System.Data;
using System.Data.Common;
using CollabHub.Server.Configuration;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace CollabHub.Server.Store;

/// <summary>
/// PostgreSQL through Npgsql: several server processes on several hosts share one database. Commits run at
/// READ COMMITTED and serialise per room on the room's row lock (see <see cref="SqlRoomStore.CommitAsync"/>);
/// reads run in a REPEATABLE READ READ ONLY snapshot, which takes no lock that a writer waits for.
/// </summary>
internal sealed class PostgresDialect(IOptions<CollabHubOptions> options) : IStoreDialect
{
    /// <summary>
    /// The advisory lock that the schema migration holds until its transaction ends ("CollabHu" in ASCII).
    /// Advisory locks are per database, so deployments in other databases of one server do not wait on each other.
    /// </summary>
    internal const long MigrationLockKey = 0x436F_6C6C_6162_4875;

    /// <summary>How many statements each connection keeps prepared unless the connection string says otherwise.</summary>
    internal const int DefaultMaxAutoPrepare = 64;

    private readonly string _connectionString = BuildConnectionString(options.Value.Store.ConnectionString);

    /// <summary>
    /// The configured connection string, with Npgsql's automatic preparation on unless it is set: the store runs the
    /// same few statements over and over (measured in process: about twice the commits per second).
    /// </summary>
    internal static string BuildConnectionString(string configured)
    {
        // Npgsql's builder reports every keyword it knows as present, so the configured keys are read plainly.
        var given = new DbConnectionStringBuilder { ConnectionString = configured };
        var setsAutoPrepare = given.Keys.Cast<string>()
            .Any(key => key.Replace(" ", "", StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase));
        var builder = new NpgsqlConnectionStringBuilder(configured);
        if (!setsAutoPrepare)
        {
            builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }
        return builder.ConnectionString;
    }

    public void Configure(DbContextOptionsBuilder options) => options.UseNpgsql(_connectionString);

    public DbConnection CreateConnection() => new NpgsqlConnection(_connectionString);

    public async Task<IDbContextTransaction> BeginSnapshotAsync(StoreDbContext db, CancellationToken cancellationToken)
    {
        var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        try
        {
            // Npgsql sends BEGIN with the first command, so this costs no round trip of its own; it must come before
            // any query of the transaction.
            await db.Database.ExecuteSqlRawAsync("SET TRANSACTION READ ONLY", cancellationToken);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    public async Task<(IDbContextTransaction Transaction, bool HasSchema)> BeginExclusiveAsync(StoreDbContext db, CancellationToken cancellationToken)
    {
        var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        try
        {
            // Every instance starting at once queues here; the first migrates, the others then find the schema.
            // PostgreSQL's DDL is transactional, so a migration that fails leaves nothing behind.
            await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_xact_lock({0})", [MigrationLockKey], cancellationToken);
            var exists = await db.Database
                .SqlQueryRaw<bool>("SELECT to_regclass('schema_info') IS NOT NULL AS \"Value\"")
                .ToListAsync(cancellationToken);
            return (transaction, exists[0]);
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Failures after which the whole transaction can run again: a serialization failure, a deadlock (PostgreSQL
    /// rolled the transaction back), or a unique violation (a concurrent transaction inserted the same mutation
    /// record first; run again, the batch finds it and replays it). Each means that nothing was committed.
    /// </summary>
    public bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.UniqueViolation })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// An error that is not the server's answer (PostgresException) but a broken or timed-out connection: the COMMIT
    /// may have reached the server and been applied.
    /// </summary>
    public bool IsCommitOutcomeUnknown(Exception exception) => exception is NpgsqlException and not PostgresException
        || exception is IOException or TimeoutException or System.Net.Sockets.SocketException;
}
