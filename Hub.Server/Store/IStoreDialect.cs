using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace CollabHub.Server.Store;

/// <summary>What differs between the databases the store runs on; everything else is plain EF Core.</summary>
internal interface IStoreDialect
{
    void Configure(DbContextOptionsBuilder options);

    /// <summary>
    /// A connection to the store's database outside EF Core (its pool is the one EF Core's connections share), for the
    /// one-statement read that starts every join and sync: renting a context costs more than that read.
    /// </summary>
    DbConnection CreateConnection();

    /// <summary>Starts a read-only transaction that sees one consistent snapshot and blocks no writer.</summary>
    Task<IDbContextTransaction> BeginSnapshotAsync(StoreDbContext db, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a transaction that no other process can run alongside (the schema migration takes it),
    /// and says whether the schema_info table exists yet.
    /// </summary>
    Task<(IDbContextTransaction Transaction, bool HasSchema)> BeginExclusiveAsync(StoreDbContext db, CancellationToken cancellationToken);

    /// <summary>
    /// Whether a commit that failed with <paramref name="exception"/> certainly stored nothing and may succeed if run
    /// again (a serialization failure, a deadlock). Only such failures are retried, so ack after commit holds.
    /// </summary>
    bool IsTransient(Exception exception);

    /// <summary>
    /// Whether a COMMIT that failed with <paramref name="exception"/> may have been applied all the same (the
    /// connection broke before the answer came), so the batch must be neither acknowledged nor run again.
    /// </summary>
    bool IsCommitOutcomeUnknown(Exception exception);
}
