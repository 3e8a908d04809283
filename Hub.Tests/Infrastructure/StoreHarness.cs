using CollabHub.Server.Configuration;
using CollabHub.Server.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CollabHub.Tests.Infrastructure;

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>The real store (EF Core over a SQLite file in a temp folder), in process, with a manual clock.</summary>
internal sealed class StoreHarness : IAsyncDisposable
{
    private readonly TempDirectory _folder = new();
    private readonly ServiceProvider _services;

    private StoreHarness(Action<CollabHubOptions>? configure)
    {
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        services.AddOptions<CollabHubOptions>().Configure(options =>
        {
            options.Store.ConnectionString = $"Data Source={_folder.File("store.db")}";
            configure?.Invoke(options);
        });
        services.AddSingleton<TimeProvider>(Clock);
        services.AddCollabHubStore();
        _services = services.BuildServiceProvider();
    }

    public ManualClock Clock { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public IRoomStore Store => _services.GetRequiredService<IRoomStore>();

    public static async Task<StoreHarness> CreateAsync(Action<CollabHubOptions>? configure = null)
    {
        var harness = new StoreHarness(configure);
        await harness._services.GetRequiredService<SchemaMigrator>().MigrateAsync(CancellationToken.None);
        return harness;
    }

    public async Task<WriteOutcome> WriteAsync(WriteCommand command) => (await Store.CommitAsync([command], CancellationToken.None))[0];

    public Task<WriteOutcome> SetAsync(string room, string key, string json, string user = "ada", string? mutationId = null, long? expectedVersion = null) =>
        WriteAsync(new WriteCommand(MutationKind.Set, room, user, key, json, mutationId, expectedVersion));

    public Task<WriteOutcome> DeleteAsync(string room, string key, string user = "ada") =>
        WriteAsync(new WriteCommand(MutationKind.Delete, room, user, key, null, null, null));

    public Task<RoomPage> ReadAsync(string room, long? since, int limit = 100, int recent = 10, long? snapshotSeq = null, int maxBytes = 1 << 20) =>
        Store.ReadAsync(new RoomRead(room, since, limit, maxBytes, recent, snapshotSeq), CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
