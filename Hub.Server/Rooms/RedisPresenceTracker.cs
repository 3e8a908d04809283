using CollabHub.Protocol;
using CollabHub.Server.Backplane;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CollabHub.Server.Rooms;

/// <summary>
/// Presence across instances, kept in Redis. Per room: a hash with one field per connection
/// (<c>{instance}:{connection}</c> → <c>{userId}\n{name}</c>), a hash with one field per user
/// (<c>{userId}</c> → <c>{connections}\n{name}</c>) and a sorted set of the user ids (all scored 0, so in user id
/// order), so that a change, a count and a look at a few users cost the same whatever the room's size; and a flag
/// while the room is counted rather than listed. Per instance, the set of rooms it has entries in; and a sorted set of
/// instances scored by their last heartbeat (Redis's own clock, so instances' clocks may differ). Every
/// <see cref="PresenceOptions.HeartbeatInterval"/> an instance renews its heartbeat and removes the entries of
/// instances silent for longer than <see cref="PresenceOptions.InstanceExpiry"/>, reporting those users as changed
/// (so the reaping instance tells the rooms, once). Changes run as Lua scripts (<c>ScriptEvaluateAsync</c>), so
/// each is atomic in Redis (a single Redis, not Redis Cluster).
/// </summary>
/// <remarks>
/// This instance's own connections are also kept in memory: while Redis is unreachable, answers come from them at
/// once (logged once; nothing waits in the multiplexer's backlog); after any failure, and when a heartbeat finds this instance missing from Redis (restarted empty,
/// or reaped by others during a long outage), the next heartbeat makes Redis hold exactly them again.
/// </remarks>
internal sealed partial class RedisPresenceTracker : BackgroundService, IPresenceTracker
{
    // Shared by the scripts that uncount connections: the user of a connection's field, and one connection less for
    // a user (gone from the room at zero).
    private const string UncountFunctions = """
        local function user_of(member)
          local nl = string.find(member, '\n', 1, true)
          if nl then return string.sub(member, 1, nl - 1) end
          return member
        end
        local function uncount(users, order, user)
          local value = redis.call('HGET', users, user)
          if not value then return end
          local nl = string.find(value, '\n', 1, true)
          local n = tonumber(string.sub(value, 1, nl - 1))
          if n > 1 then
            redis.call('HSET', users, user, (n - 1) .. string.sub(value, nl))
          else
            redis.call('HDEL', users, user)
            redis.call('ZREM', order, user)
          end
        end
        """;

    // Also puts the instance among the heartbeats, so its entries can be reaped even if it dies before its first beat.
    private const string AddScript = """
        local added = redis.call('HSET', KEYS[1], ARGV[1], ARGV[4] .. '\n' .. ARGV[5])
        if added == 1 then
          local value = redis.call('HGET', KEYS[2], ARGV[4])
          local n = 1
          if value then n = tonumber(string.sub(value, 1, string.find(value, '\n', 1, true) - 1)) + 1 end
          redis.call('HSET', KEYS[2], ARGV[4], n .. '\n' .. ARGV[5])
          redis.call('ZADD', KEYS[3], 0, ARGV[4])
        end
        redis.call('SADD', KEYS[4], ARGV[2])
        if not redis.call('ZSCORE', KEYS[5], ARGV[3]) then
          local t = redis.call('TIME')
          redis.call('ZADD', KEYS[5], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[3])
        end
        return added
        """;

    // Returns the connection's user, or nil when it was not counted.
    private const string RemoveScript = UncountFunctions + "\n" + """
        local member = redis.call('HGET', KEYS[1], ARGV[1])
        if not member then return false end
        redis.call('HDEL', KEYS[1], ARGV[1])
        local user = user_of(member)
        uncount(KEYS[2], KEYS[3], user)
        return user
        """;

    // The first ARGV[1] users in user id order with their values, and the room's number of users.
    private const string ListScript = """
        local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
        local values = {}
        for i, id in ipairs(ids) do values[i] = redis.call('HGET', KEYS[1], id) end
        return {redis.call('ZCARD', KEYS[2]), ids, values}
        """;

    // The values of the users ARGV[2..] (nil when gone), the room's number of users, and whether the room stopped
    // being counted (more than ARGV[1] users) since the last read.
    private const string ReadScript = """
        local count = redis.call('ZCARD', KEYS[2])
        local values = {}
        for i = 2, #ARGV do values[i - 1] = redis.call('HGET', KEYS[1], ARGV[i]) end
        local relisted = 0
        if count > tonumber(ARGV[1]) then
          redis.call('SET', KEYS[3], '1')
        elseif redis.call('DEL', KEYS[3]) == 1 then
          relisted = 1
        end
        return {count, relisted, values}
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

    // Removes a dead instance's entries from every room it had; returns the (room, user) pairs it changed, flat.
    // Room keys are built from ARGV[1] (the presence key prefix), which is why this needs a single Redis rather than
    // a cluster.
    private const string ReapScript = UncountFunctions + "\n" + """
        local rooms = redis.call('SMEMBERS', KEYS[1])
        local changed = {}
        for _, room in ipairs(rooms) do
          local key = ARGV[1] .. room
          for _, field in ipairs(redis.call('HKEYS', key)) do
            if string.sub(field, 1, #ARGV[2]) == ARGV[2] then
              local user = user_of(redis.call('HGET', key, field))
              redis.call('HDEL', key, field)
              uncount(key .. ':users', key .. ':order', user)
              changed[#changed + 1] = room
              changed[#changed + 1] = user
            end
          end
        end
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[3])
        return changed
        """;

    private readonly MemoryPresenceTracker _local = new();
    private readonly RedisConnection _redis;
    private readonly PresenceOptions _options;
    private readonly string _instanceId;
    private readonly string _roomKeyPrefix;
    private readonly string _instancesKey;
    private readonly ILogger<RedisPresenceTracker> _logger;
    private readonly OutageLog _outage;
    private int _resyncNeeded;

    public RedisPresenceTracker(
        RedisConnection redis,
        BackplaneInstance instance,
        IOptions<CollabHubOptions> options,
        ILogger<RedisPresenceTracker> logger)
    {
        _redis = redis;
        _options = options.Value.Presence;
        _instanceId = instance.Id;
        _roomKeyPrefix = $"{options.Value.RedisPrefix}:presence:room:";
        _instancesKey = InstancesKey(options.Value.RedisPrefix);
        _logger = logger;
        _outage = new OutageLog(ex => LogPresenceFailing(ex), count => LogPresenceRecovered(count));
    }

    public event Action<string, string>? Changed;

    /// <summary>The sorted set of live instances, scored by their last heartbeat (ms, Redis's clock); the status page lists it.</summary>
    public static string InstancesKey(string redisPrefix) => $"{redisPrefix}:presence:instances";

    // A room's keys; room ids never contain ':', so the suffixed keys cannot be another room's.
    private string RoomKey(string roomId) => _roomKeyPrefix + roomId;

    private RedisKey UsersKey(string roomId) => RoomKey(roomId) + ":users";

    private RedisKey OrderKey(string roomId) => RoomKey(roomId) + ":order";

    private RedisKey CountedKey(string roomId) => RoomKey(roomId) + ":counted";

    private string InstanceRoomsKey(string instanceId) => $"{_instancesKey}:{instanceId}:rooms";

    private string Field(string connectionId) => $"{_instanceId}:{connectionId}";

    public async ValueTask AddAsync(string roomId, string connectionId, string userId, string name)
    {
        var added = _local.Add(roomId, connectionId, userId, name);
        try
        {
            added = (long)await AddInRedisAsync(roomId, connectionId, new PresenceMember(userId, name)) == 1;
            _outage.Succeeded();
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            OutageFailed(ex);
        }
        if (added)
        {
            Changed?.Invoke(roomId, userId);
        }
    }

    public async ValueTask RemoveAsync(string roomId, string connectionId)
    {
        var userId = _local.Remove(roomId, connectionId);
        try
        {
            var removed = await EvaluateAsync(RemoveScript, [RoomKey(roomId), UsersKey(roomId), OrderKey(roomId)], [Field(connectionId)]);
            userId = removed.IsNull ? null : (string?)removed;
            _outage.Succeeded();
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            OutageFailed(ex);
        }
        if (userId is not null)
        {
            Changed?.Invoke(roomId, userId);
        }
    }

    public async ValueTask<PresenceListing> ListAsync(string roomId, int max)
    {
        try
        {
            var parts = (RedisResult[])(await EvaluateAsync(ListScript, [UsersKey(roomId), OrderKey(roomId)], [max]))!;
            _outage.Succeeded();
            var ids = (string[])parts[1]!;
            var values = (RedisValue[])parts[2]!;
            var entries = new List<PresenceEntry>(ids.Length);
            for (var i = 0; i < ids.Length; i++)
            {
                if (Entry(ids[i], i < values.Length ? values[i] : RedisValue.Null) is { } entry)
                {
                    entries.Add(entry);
                }
            }
            return new PresenceListing([.. entries], (int)parts[0]);
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            OutageFailed(ex);
            return _local.List(roomId, max);
        }
    }

    public async ValueTask<PresenceChanges> ReadAsync(string roomId, IReadOnlyCollection<string> userIds, int maxListed)
    {
        try
        {
            var arguments = new RedisValue[userIds.Count + 1];
            arguments[0] = maxListed;
            var i = 1;
            foreach (var userId in userIds)
            {
                arguments[i++] = userId;
            }
            var parts = (RedisResult[])(await EvaluateAsync(ReadScript, [UsersKey(roomId), OrderKey(roomId), CountedKey(roomId)], arguments))!;
            _outage.Succeeded();
            var values = (RedisValue[])parts[2]!;
            var present = new List<PresenceEntry>(userIds.Count);
            var gone = new List<string>();
            i = 0;
            foreach (var userId in userIds)
            {
                if (Entry(userId, i < values.Length ? values[i] : RedisValue.Null) is { } entry)
                {
                    present.Add(entry);
                }
                else
                {
                    gone.Add(userId);
                }
                i++;
            }
            return new PresenceChanges([.. present], [.. gone], (int)parts[0], (long)parts[1] == 1);
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            OutageFailed(ex);
            return _local.Read(roomId, userIds, maxListed);
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

    /// <summary>Removes an instance's entries and reports the users it changed, so this instance tells their rooms.</summary>
    private async Task ReapAsync(string instanceId)
    {
        var changed = await ReapInRedisAsync(instanceId);
        if (instanceId != _instanceId && changed.Count > 0)
        {
            LogReaped(instanceId, changed.Select(c => c.RoomId).Distinct(StringComparer.Ordinal).Count());
        }
        foreach (var (roomId, userId) in changed)
        {
            Changed?.Invoke(roomId, userId);
        }
    }

    private async Task<List<(string RoomId, string UserId)>> ReapInRedisAsync(string instanceId)
    {
        var flat = (string[])(await EvaluateAsync(ReapScript, [InstanceRoomsKey(instanceId), _instancesKey],
            [_roomKeyPrefix, instanceId + ":", instanceId]))!;
        var changed = new List<(string, string)>(flat.Length / 2);
        for (var i = 0; i + 1 < flat.Length; i += 2)
        {
            changed.Add((flat[i], flat[i + 1]));
        }
        return changed;
    }

    private async Task<long> AddInRedisAsync(string roomId, string connectionId, PresenceMember member) =>
        (long)await EvaluateAsync(AddScript, [RoomKey(roomId), UsersKey(roomId), OrderKey(roomId), InstanceRoomsKey(_instanceId), _instancesKey],
            [Field(connectionId), roomId, _instanceId, member.UserId, member.Name]);

    /// <summary>Runs a script; while Redis is unreachable, fails at once instead of waiting in the multiplexer's backlog.</summary>
    private Task<RedisResult> EvaluateAsync(string script, RedisKey[] keys, RedisValue[] values) =>
        _redis.IsConnected
            ? _redis.Database.ScriptEvaluateAsync(script, keys, values)
            : Task.FromException<RedisResult>(new RedisUnavailableException($"Not connected to Redis at {_redis.Description}."));

    /// <summary>
    /// After an outage (joins and leaves meanwhile were not written; Redis may have kept stale entries or restarted
    /// empty; others may have reaped this instance), makes Redis hold exactly this instance's connections again, and
    /// reports every user concerned as changed.
    /// </summary>
    private async Task ResyncAsync()
    {
        var changed = new HashSet<(string RoomId, string UserId)>(await ReapInRedisAsync(_instanceId));
        foreach (var (roomId, connectionId, member) in _local.Snapshot())
        {
            await AddInRedisAsync(roomId, connectionId, member);
            changed.Add((roomId, member.UserId));
        }
        foreach (var (roomId, userId) in changed)
        {
            Changed?.Invoke(roomId, userId);
        }
    }

    private void OutageFailed(Exception exception)
    {
        Volatile.Write(ref _resyncNeeded, 1);
        _outage.Failed(exception);
    }

    /// <summary>A user's entry from its value in the room's users hash (<c>{connections}\n{name}</c>); null when it has none.</summary>
    private static PresenceEntry? Entry(string userId, RedisValue value)
    {
        var text = (string?)value;
        if (text is null)
        {
            return null;
        }
        var split = text.IndexOf('\n');
        return split > 0 && int.TryParse(text.AsSpan(0, split), out var connections)
            ? new PresenceEntry(userId, text[(split + 1)..], connections)
            : null;
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
