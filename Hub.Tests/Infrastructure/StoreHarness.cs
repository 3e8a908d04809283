using System.Collections.Concurrent;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CollabHub.Tests.Infrastructure;

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>An empty database for the store, deleted (or let go) on dispose.</summary>
internal sealed class StoreDatabase(StoreProvider provider, string connectionString, Action? cleanup = null) : IAsyncDisposable
{
    public StoreProvider Provider { get; } = provider;

    public string ConnectionString { get; } = connectionString;

    /// <summary>A SQLite file in a new temp folder.</summary>
    public static StoreDatabase Sqlite()
    {
        var folder = new TempDirectory();
        return new StoreDatabase(StoreProvider.Sqlite, $"Data Source={folder.File("store.db")}", () =>
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            folder.Dispose();
        });
    }

    /// <summary>A new database on a throw-away PostgreSQL server.</summary>
    public static async Task<StoreDatabase> PostgresAsync(PostgresFixture postgres)
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        // The server is thrown away with all its databases; only this database's idle connections are closed now.
        return new StoreDatabase(StoreProvider.Postgres, connectionString, () =>
        {
            using var connection = new NpgsqlConnection(connectionString);
            NpgsqlConnection.ClearPool(connection);
        });
    }

    public ValueTask DisposeAsync()
    {
        cleanup?.Invoke();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The real store (EF Core over SQLite or PostgreSQL), in process, with a manual clock. Each harness is one server
/// instance (its own service provider, pools and writer state); <see cref="CreateManyAsync"/> starts several on one
/// database.
/// </summary>
internal sealed class StoreHarness : IAsyncDisposable
{
    private readonly StoreDatabase _database;
    private readonly bool _ownsDatabase;
    private readonly ServiceProvider _services;

    private StoreHarness(StoreDatabase database, bool ownsDatabase, Action<CollabHubOptions>? configure)
    {
        _database = database;
        _ownsDatabase = ownsDatabase;
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Information).AddProvider(new EventIdRecorder(Events)));
        services.AddOptions<CollabHubOptions>().Configure(options =>
        {
            options.Store.Provider = database.Provider;
            options.Store.ConnectionString = database.ConnectionString;
            configure?.Invoke(options);
        });
        services.AddSingleton<TimeProvider>(Clock);
        services.AddCollabHubStore();
        _services = services.BuildServiceProvider();
    }

    public ManualClock Clock { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public IRoomStore Store => _services.GetRequiredService<IRoomStore>();

    /// <summary>The store's own DbContext factory: its connections are configured as the store's are.</summary>
    public IDbContextFactory<StoreDbContext> Contexts => _services.GetRequiredService<IDbContextFactory<StoreDbContext>>();

    public StoreProvider Provider => _database.Provider;

    /// <summary>The ids of the events this instance logged at Information or above, e.g. 1301 for a retried commit.</summary>
    public ConcurrentQueue<int> Events { get; } = new();

    /// <summary>A store instance on <paramref name="database"/>, which it deletes on dispose; the schema is migrated.</summary>
    public static Task<StoreHarness> CreateAsync(StoreDatabase database, Action<CollabHubOptions>? configure = null) =>
        StartAsync(new StoreHarness(database, ownsDatabase: true, configure));

    /// <summary>
    /// <paramref name="count"/> instances on <paramref name="database"/> that migrate the schema all at once, as
    /// servers starting together do; the first deletes the database on dispose.
    /// </summary>
    public static async Task<StoreHarness[]> CreateManyAsync(StoreDatabase database, int count, Action<CollabHubOptions>? configure = null)
    {
        var instances = Enumerable.Range(0, count).Select(i => new StoreHarness(database, ownsDatabase: i == 0, configure)).ToArray();
        var migrations = instances.Select(i => i.MigrateAsync()).ToArray();
        try
        {
            await Task.WhenAll(migrations).WaitAsync(TimeSpan.FromSeconds(60));
            return instances;
        }
        catch
        {
            // The database's owner last.
            for (var i = instances.Length - 1; i >= 0; i--)
            {
                await instances[i].DisposeAsync();
            }
            throw;
        }
    }

    private static async Task<StoreHarness> StartAsync(StoreHarness harness)
    {
        try
        {
            await harness.MigrateAsync();
            return harness;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    public async Task<WriteOutcome> WriteAsync(WriteCommand command) => (await Store.CommitAsync([command], CancellationToken.None))[0];

    public Task<WriteOutcome> SetAsync(string room, string key, string json, string user = "ada", string? mutationId = null, long? expectedVersion = null) =>
        WriteAsync(new WriteCommand(WriteKind.Set, room, user, key, json, mutationId, expectedVersion));

    public Task<WriteOutcome> DeleteAsync(string room, string key, string user = "ada") =>
        WriteAsync(new WriteCommand(WriteKind.Delete, room, user, key, null, null, null));

    public Task<RoomPage> ReadAsync(string room, long? since, int limit = 100, int recent = 10, long? snapshotSeq = null, int maxBytes = 1 << 20) =>
        Store.ReadAsync(new RoomRead(room, since, limit, maxBytes, recent, snapshotSeq), CancellationToken.None);

    /// <summary>Runs the schema migration again, as a server starting on this database does.</summary>
    public Task MigrateAsync() => _services.GetRequiredService<SchemaMigrator>().MigrateAsync(CancellationToken.None);

    /// <summary>Runs raw SQL on the database, e.g. to make it look like one an older release left.</summary>
    public async Task ExecuteSqlAsync(string sql)
    {
        await using var db = await _services.GetRequiredService<IDbContextFactory<StoreDbContext>>().CreateDbContextAsync();
        await db.Database.ExecuteSqlRawAsync(sql);
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        if (_ownsDatabase)
        {
            await _database.DisposeAsync();
        }
    }

    /// <summary>Records the event id of every entry logged at Information or above.</summary>
    private sealed class EventIdRecorder(ConcurrentQueue<int> events) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                events.Enqueue(eventId.Id);
            }
        }

        public void Dispose()
        {
        }
    }
}
