using CollabHub.Server.Configuration;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Store;

internal static class StoreServiceCollectionExtensions
{
    /// <summary>The store over the configured database: EF Core, the schema migrator, the group-commit writer and the purge.</summary>
    public static IServiceCollection AddCollabHubStore(this IServiceCollection services)
    {
        services.AddSingleton<IStoreDialect>(sp => sp.GetRequiredService<IOptions<CollabHubOptions>>().Value.Store.Provider switch
        {
            StoreProvider.Sqlite => ActivatorUtilities.CreateInstance<SqliteDialect>(sp),
            StoreProvider.Postgres => ActivatorUtilities.CreateInstance<PostgresDialect>(sp),
            var other => throw new InvalidOperationException($"CollabHub:Store:Provider '{other}' is not supported by this build."),
        });
        services.AddPooledDbContextFactory<StoreDbContext>((sp, options) => sp.GetRequiredService<IStoreDialect>().Configure(options));
        services.AddSingleton<IRoomStore, SqlRoomStore>();
        services.AddSingleton<SchemaMigrator>();
        services.AddSingleton<GroupCommitWriter>();
        services.AddHostedComponent<GroupCommitWriter>();
        services.AddSingleton<PurgeService>();
        services.AddHostedComponent<PurgeService>();
        return services;
    }
}
