using CollabHub.Protocol;
using CollabHub.Server.Backplane;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Presence across instances, kept in Redis. Per room, a hash with one field per connection
/// (<c>{instance}:{connection}</c> → <c>{userId}\n{name}</c>); per instance, the set of rooms it has entries in;
/// and a sorted set of instances scored by their last heartbeat (Redis's own clock, so instances' clocks may
/// differ). Every <see cref="PresenceOptions.HeartbeatInterval"/> an instance renews its heartbeat and removes
/// the entries of instances silent for longer than <see cref="PresenceOptions.InstanceExpiry"/>, telling those
/// rooms. Changes run as Lua scripts (<c>ScriptEvaluateAsync</c>), so each is atomic in Redis (a single Redis, not
/// Redis Cluster).
/// </summary>
/// <remarks>
/// This instance's own connections are also kept in memory: while Redis is unreachable, answers come from them at
/// once (logged once; nothing waits in the multiplexer's backlog); after any failure, and when a heartbeat finds this instance missing from Redis (restarted empty,
/// or reaped by others during a long outage), the next heartbeat makes Redis hold exactly them again.
/// </remarks>
internal sealed partial class RedisPresenceTracker : BackgroundService, IPresenceTracker
{
    // Also puts the instance among the heartbeats, so its entries can be reaped even if it dies before its first beat.
    private const string AddScript = """
        local added = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('SADD', KEYS[2], ARGV[3])
        if not redis.call('ZSCORE', KEYS[3], ARGV[4]) then
          local t = redis.call('TIME')
          redis.call('ZADD', KEYS[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[4])
        end
        return {added, redis.call('HVALS', KEYS[1])}
        """;

    private const string RemoveScript = """
        local removed = redis.call('HDEL', KEYS[1], ARGV[1])
        return {removed, redis.call('HVALS', KEYS[1])}
        """;

    // Renews this instance's heartbeat; returns whether it was still known (not reaped, Redis not restarted empty)
    // and the instances whose heartbeat is older than the expiry.
    private const string HeartbeatScript = """
        local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        return {known and 1 or 0, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))}
        """;

    // Removes a dead instance's entries from every room it had; returns those rooms. Room keys are built from
    // ARGV[1] (the presence key prefix), which is why this needs a single Redis rather than a cluster.
    private const string ReapScript = """
        local rooms = redis.call('SMEMBERS', KEYS[1])
        local changed = {}
        for _, room in ipairs(rooms) do
          local key = ARGV[1] .. room
          for _, field in ipairs(redis.call('HKEYS', key)) do
            if string.sub(field, 1, #ARGV[2]) == ARGV[2] then
              redis.call('HDEL', key, field)
              changed[#changed + 1] = room
            end
          end
        end
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[3])
        return changed
        """;

    private readonly MemoryPresenceTracker _local = new();
    private readonly RedisConnection _redis;
    private readonly RoomBroadcaster _broadcaster;
    private readonly PresenceOptions _options;
    private readonly string _instanceId;
    private readonly string _roomKeyPrefix;
    private readonly string _instancesKey;
    private readonly ILogger<RedisPresenceTracker> _logger;
    private readonly OutageLog _outage;
    private int _resyncNeeded;

    public RedisPresenceTracker(
        RedisConnection redis,
        RoomBroadcaster broadcaster,
        BackplaneInstance instance,
        IOptions<CollabHubOptions> options,
        ILogger<RedisPresenceTracker> logger)
    {
        _redis = redis;
        _broadcaster = broadcaster;
        _options = options.Value.Presence;
        _instanceId = instance.Id;
        _roomKeyPrefix = $"{options.Value.RedisPrefix}:presence:room:";
        _instancesKey = $"{options.Value.RedisPrefix}:presence:instances";
        _logger = logger;
        _outage = new OutageLog(ex => LogPresenceFailing(ex), count => LogPresenceRecovered(count));
    }

    private string RoomKey(string roomId) => _roomKeyPrefix + roomId;

    private string InstanceRoomsKey(string instanceId) => $"{_instancesKey}:{instanceId}:rooms";

    private string Field(string connectionId) => $"{_instanceId}:{connectionId}";

    public async ValueTask<(IReadOnlyList<PresenceEntry> Presence, bool Changed)> AddAsync(string roomId, string connectionId, string userId, string name)
    {
        var local = _local.Add(roomId, connectionId, userId, name);
        try
        {
            var parts = (RedisResult[])(await AddInRedisAsync(roomId, connectionId, new PresenceMember(userId, name)))!;
            _outage.Succeeded();
            return (Parse((RedisValue[])parts[1]!), (long)parts[0] == 1);
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            OutageFailed(ex);
            return local;
        }
    }

    public async ValueTask<IReadOnlyList<PresenceEntry>?> RemoveAsync(string roomId, string connectionId)
    {
        var local = _local.Remove(roomId, connectionId);
        try
        {
            var parts = (RedisResult[])(await EvaluateAsync(RemoveScript, [RoomKey(roomId)], [Field(connectionId)]))!;
            _outage.Succeeded();
            return (long)parts[0] == 1 ? Parse((RedisValue[])parts[1]!) : null;
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            OutageFailed(ex);
            return local;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        do
        {
            try
            {
                var beat = (RedisResult[])(await EvaluateAsync(HeartbeatScript, [_instancesKey], [_instanceId, (long)_options.InstanceExpiry.TotalMilliseconds]))!;
                if ((long)beat[0] == 0 || Interlocked.Exchange(ref _resyncNeeded, 0) == 1)
                {
                    await ResyncAsync();
                }
                foreach (var instance in (string[])beat[1]!)
                {
                    await ReapAsync(instance);
                }
                _outage.Succeeded();
            }
            catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
            {
                OutageFailed(ex);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogHeartbeatFailed(ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            // Leave at once rather than after the expiry; a crash leaves it to the others' reaping.
            await ReapAsync(_instanceId);
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            LogLeaveFailed(ex);
        }
    }

    /// <summary>Removes an instance's entries and tells the rooms concerned who is left.</summary>
    private async Task ReapAsync(string instanceId)
    {
        var rooms = (string[])(await EvaluateAsync(ReapScript, [InstanceRoomsKey(instanceId), _instancesKey],
            [_roomKeyPrefix, instanceId + ":", instanceId]))!;
        var changed = rooms.Distinct(StringComparer.Ordinal).ToList();
        if (instanceId != _instanceId && changed.Count > 0)
        {
            LogReaped(instanceId, changed.Count);
        }
        foreach (var roomId in changed)
        {
            _broadcaster.PresenceChanged(roomId, Parse(await _redis.Database.HashValuesAsync(RoomKey(roomId))));
        }
    }

    private Task<RedisResult> AddInRedisAsync(string roomId, string connectionId, PresenceMember member) =>
        EvaluateAsync(AddScript, [RoomKey(roomId), InstanceRoomsKey(_instanceId), _instancesKey],
            [Field(connectionId), $"{member.UserId}\n{member.Name}", roomId, _instanceId]);

    /// <summary>Runs a script; while Redis is unreachable, fails at once instead of waiting in the multiplexer's backlog.</summary>
    private Task<RedisResult> EvaluateAsync(string script, RedisKey[] keys, RedisValue[] values) =>
        _redis.IsConnected
            ? _redis.Database.ScriptEvaluateAsync(script, keys, values)
            : Task.FromException<RedisResult>(new RedisUnavailableException($"Not connected to Redis at {_redis.Description}."));

    /// <summary>
    /// After an outage (joins and leaves meanwhile were not written; Redis may have kept stale entries or restarted
    /// empty; others may have reaped this instance), makes Redis hold exactly this instance's connections again, and
    /// tells the rooms concerned.
    /// </summary>
    private async Task ResyncAsync()
    {
        var reaped = (string[])(await EvaluateAsync(ReapScript, [InstanceRoomsKey(_instanceId), _instancesKey],
            [_roomKeyPrefix, _instanceId + ":", _instanceId]))!;
        var rooms = new HashSet<string>(reaped, StringComparer.Ordinal);
        foreach (var (roomId, connectionId, member) in _local.Snapshot())
        {
            await AddInRedisAsync(roomId, connectionId, member);
            rooms.Add(roomId);
        }
        foreach (var roomId in rooms)
        {
            _broadcaster.PresenceChanged(roomId, Parse(await _redis.Database.HashValuesAsync(RoomKey(roomId))));
        }
    }

    private void OutageFailed(Exception exception)
    {
        Volatile.Write(ref _resyncNeeded, 1);
        _outage.Failed(exception);
    }

    private static PresenceEntry[] Parse(RedisValue[] values)
    {
        var members = new List<PresenceMember>(values.Length);
        foreach (var value in values)
        {
            var text = (string?)value ?? "";
            var split = text.IndexOf('\n');
            members.Add(split < 0 ? new PresenceMember(text, text) : new PresenceMember(text[..split], text[(split + 1)..]));
        }
        return PresenceList.Of(members);
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Presence in Redis is unreachable; answering from this instance's connections until it heals")]
    private partial void LogPresenceFailing(Exception exception);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "Presence in Redis works again after {Failed} failed operations")]
    private partial void LogPresenceRecovered(long failed);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Information, Message = "Instance {Instance} stopped renewing its heartbeat; removed its connections from presence in {Rooms} rooms")]
    private partial void LogReaped(string instance, int rooms);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Warning, Message = "The presence heartbeat failed")]
    private partial void LogHeartbeatFailed(Exception exception);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Warning, Message = "Could not remove this instance's presence entries on shutdown; other instances will expire them")]
    private partial void LogLeaveFailed(Exception exception);
}
