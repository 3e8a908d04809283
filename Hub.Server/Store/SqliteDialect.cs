using System.Data;
using System.Data.Common;
using CollabHub.Server.Configuration;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Store;

/// <summary>
/// SQLite in WAL mode: readers never block the writer, and several server processes on one host can share
/// the file. Writers queue on SQLite's lock for up to <see cref="StoreOptions.BusyTimeout"/>. Every connection runs
/// with the <c>synchronous</c> level of <see cref="StoreOptions.SqliteDurability"/>.
/// </summary>
internal sealed class SqliteDialect(IOptions<CollabHubOptions> options) : IStoreDialect
{
    private readonly string _connectionString = BuildConnectionString(options.Value.Store);
    private readonly SynchronousPragma _synchronous = new(options.Value.Store.SqliteDurability);

    private static string BuildConnectionString(StoreOptions store)
    {
        var builder = new SqliteConnectionStringBuilder(store.ConnectionString)
        {
            // Microsoft.Data.Sqlite retries a busy database until the command timeout elapses.
            DefaultTimeout = (int)Math.Ceiling(store.BusyTimeout.TotalSeconds),
            Pooling = true,
        };
        return builder.ToString();
    }

    public void Configure(DbContextOptionsBuilder options) => options.UseSqlite(_connectionString).AddInterceptors(_synchronous);

    /// <summary>Used for reads only, so it needs no <c>synchronous</c> level; EF Core sets it whenever it opens one.</summary>
    public DbConnection CreateConnection() => new SqliteConnection(_connectionString);

    public async Task<IDbContextTransaction> BeginSnapshotAsync(StoreDbContext db, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        // Deferred: the snapshot starts at the first read and takes no write lock.
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        return await db.Database.UseTransactionAsync(connection.BeginTransaction(deferred: true), cancellationToken)
            ?? throw new InvalidOperationException("SQLite did not start a transaction.");
    }

    public async Task<(IDbContextTransaction Transaction, bool HasSchema)> BeginExclusiveAsync(StoreDbContext db, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        // WAL is a property of the file; switching needs no other connection to be writing, so it is done first.
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        // Microsoft.Data.Sqlite transactions are BEGIN IMMEDIATE: they hold the write lock from the start.
        var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.Serializable, cancellationToken);
        var tables = await db.Database
            .SqlQueryRaw<long>("SELECT count(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = 'schema_info'")
            .ToListAsync(cancellationToken);
        return (transaction, tables[0] > 0);
    }

    /// <summary>
    /// None: a writer waits for SQLite's lock for up to the busy timeout (Microsoft.Data.Sqlite retries inside), and
    /// an immediate transaction cannot deadlock or lose a serialization race.
    /// </summary>
    public bool IsTransient(Exception exception) => false;

    /// <summary>Never: SQLite runs in this process, so a failed commit was not applied.</summary>
    public bool IsCommitOutcomeUnknown(Exception exception) => false;
}

/// <summary>
/// Sets <c>synchronous</c> on each connection as it opens: the pragma belongs to the connection, not the file, and
/// Microsoft.Data.Sqlite has no connection-string keyword for it. A pooled connection runs it again each time it is
/// taken from the pool: one statement more per commit and per read, a few microseconds.
/// </summary>
internal sealed class SynchronousPragma(SqliteDurability durability) : DbConnectionInterceptor
{
    private readonly string _sql = durability switch
    {
        SqliteDurability.Normal => "PRAGMA synchronous=NORMAL;",
        _ => "PRAGMA synchronous=FULL;",
    };

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        // SQLite runs in this process and a pragma touches no disk, so the synchronous call is the cheap one.
        Apply(connection);
        return Task.CompletedTask;
    }

    private void Apply(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = _sql;
        command.ExecuteNonQuery();
    }
}
