using System.Text.Json;
using CollabHub.Server.Backplane;
using CollabHub.Server.Configuration;
using CollabHub.Server.Rooms;
using CollabHub.Server.Telemetry;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CollabHub.Server.Status;

/// <summary>
/// The instances of the cluster, for the status page. This instance's figures come from its metrics; with Redis,
/// every instance also writes them to <c>{RedisPrefix}:status:{instance}</c> (expiring with the presence heartbeat)
/// each heartbeat interval, and the instances listed are those of the presence heartbeats. Without Redis, or while it
/// is unreachable, this instance alone.
/// </summary>
internal sealed partial class ClusterStatus(
    CollabHubMetrics metrics,
    StatusSampler sampler,
    BackplaneInstance instance,
    IOptions<CollabHubOptions> options,
    TimeProvider clock,
    ILogger<ClusterStatus> logger,
    RedisConnection? redis = null) : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly string _prefix = options.Value.RedisPrefix;
    private readonly PresenceOptions _presence = options.Value.Presence;
    private bool _publishFailing;

    public string InstanceId => instance.Id;

    /// <summary>This instance now.</summary>
    public InstanceStatus Local()
    {
        var samples = sampler.Samples();
        var last = samples.Length > 0 ? samples[^1] : default;
        return new InstanceStatus(instance.Id, true, clock.GetUtcNow(), metrics.Connections, metrics.Rooms.Count,
            last.WritesPerSecond, last.EventsPerSecond);
    }

    /// <summary>Every live instance, this one first.</summary>
    public async Task<IReadOnlyList<InstanceStatus>> InstancesAsync()
    {
        var local = Local();
        if (redis is not { IsConnected: true })
        {
            return [local];
        }
        try
        {
            var database = redis.Database;
            var ids = await database.SortedSetRangeByRankWithScoresAsync(RedisPresenceTracker.InstancesKey(_prefix));
            var others = ids.Select(entry => entry.Element.ToString()).Where(id => id != instance.Id).ToArray();
            var details = others.Length == 0 ? [] : await database.StringGetAsync([.. others.Select(id => (RedisKey)Key(id))]);
            List<InstanceStatus> all = [local];
            for (var i = 0; i < others.Length; i++)
            {
                all.Add(details[i].HasValue
                    ? JsonSerializer.Deserialize<InstanceStatus>(details[i].ToString(), Json)! with { Self = false }
                    : new InstanceStatus(others[i], false, null, null, null, null, null));
            }
            return all;
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex) || ex is JsonException)
        {
            return [local];
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (redis is null)
        {
            return;
        }
        using var timer = new PeriodicTimer(_presence.HeartbeatInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await PublishAsync();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task PublishAsync()
    {
        try
        {
            if (redis!.IsConnected)
            {
                await redis.Database.StringSetAsync(Key(instance.Id), JsonSerializer.Serialize(Local(), Json), _presence.InstanceExpiry);
                _publishFailing = false;
            }
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            // Redis outages are reported by the connection itself; this only says the status figures are stale.
            if (!_publishFailing)
            {
                _publishFailing = true;
                LogPublishFailed(ex);
            }
        }
    }

    private string Key(string instanceId) => $"{_prefix}:status:{instanceId}";

    [LoggerMessage(EventId = 9101, Level = LogLevel.Debug, Message = "Could not write this instance's status figures to Redis")]
    private partial void LogPublishFailed(Exception exception);
}

/// <summary>One instance on the status page; the figures are null for an instance that has not reported them yet.</summary>
internal sealed record InstanceStatus(string Id, bool Self, DateTimeOffset? At, int? Connections, int? Rooms, double? WritesPerSecond, double? EventsPerSecond);
