using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Store;

/// <summary>
/// Every <see cref="StoreOptions.PurgeInterval"/>: purges expired tombstones and mutation records, and the messages
/// beyond each room's retention (<see cref="RetentionOptions"/>).
/// </summary>
internal sealed partial class PurgeService(IRoomStore store, IOptions<CollabHubOptions> options, TimeProvider clock, ILogger<PurgeService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value.Store;
        using var timer = new PeriodicTimer(settings.PurgeInterval, clock);
        do
        {
            try
            {
                var now = clock.GetUtcNow();
                var purged = await store.PurgeAsync(now - settings.TombstoneRetention, now - settings.MutationRetention, stoppingToken);
                var retention = settings.Retention;
                var messages = await store.PurgeMessagesAsync(
                    new MessageRetention(retention.Messages, now - retention.MaxAge, retention.BatchSize), stoppingToken);
                if (purged.Tombstones + purged.Mutations + messages > 0)
                {
                    LogPurged(purged.Tombstones, purged.Mutations, messages);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogPurgeFailed(ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Purged {Tombstones} tombstones, {Mutations} mutation records and {Messages} messages")]
    private partial void LogPurged(int tombstones, int mutations, int messages);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Purging the store failed; retrying at the next interval")]
    private partial void LogPurgeFailed(Exception exception);
}
