using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.RateLimiting;
using CollabHub.Protocol;
using CollabHub.Server.Backplane;
using CollabHub.Server.Configuration;
using CollabHub.Server.Store;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Security;

/// <summary>
/// Who may do what in which room. With <see cref="RoomAccessMode.Open"/> everyone signed in is an editor. With
/// <see cref="RoomAccessMode.Private"/> the first user to join a room owns it, and owners grant roles. A role is
/// looked up when a connection joins (cached per instance) and kept on the connection, so hub methods check it in
/// memory. A grant is stored, then announced on the <see cref="IClusterBus"/> so that every instance updates its
/// cache and its connections at once (<see cref="Changed"/>).
/// </summary>
internal sealed partial class RoomAccessService : IHostedService, IDisposable
{
    private const string Topic = "access";

    private readonly RoomAccessStore _store;
    private readonly IClusterBus _bus;
    private readonly RoomsOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<RoomAccessService> _logger;
    private readonly ConcurrentDictionary<(string RoomId, string UserId), (RoomRole Role, long ExpiresAt)> _cache = new();
    private readonly PartitionedRateLimiter<string> _roomCreations;
    private readonly int _roomCreationBurst;

    public RoomAccessService(RoomAccessStore store, IClusterBus bus, IOptions<CollabHubOptions> options, TimeProvider clock, ILogger<RoomAccessService> logger)
    {
        _store = store;
        _bus = bus;
        _options = options.Value.Rooms;
        _roomCreationBurst = options.Value.Limits.Rates.UserRoomsCreatedBurst;
        _clock = clock;
        _logger = logger;
        var rates = options.Value.Limits.Rates;
        // One bucket per user, dropped by the limiter once it has refilled and sat idle.
        _roomCreations = PartitionedRateLimiter.Create<string, string>(user => RateLimitPartition.GetTokenBucketLimiter(user, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = rates.UserRoomsCreatedBurst,
            TokensPerPeriod = rates.UserRoomsCreatedPerMinute,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    public void Dispose() => _roomCreations.Dispose();

    /// <summary>A user's role in a room changed (raised on every instance, on the bus's receive loop).</summary>
    public event Action<string, string, RoomRole>? Changed;

    public bool IsPrivate => _options.DefaultAccess == RoomAccessMode.Private;

    public Task StartAsync(CancellationToken cancellationToken) => _bus.SubscribeAsync(Topic, OnNotice);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// The role a user joins a room with; a private room that was never claimed becomes the user's, within the
    /// user's budget of rooms created (<c>rate_limited</c> beyond it, and nothing is created).
    /// </summary>
    public async ValueTask<RoomRole> RoleForJoinAsync(string roomId, string userId, CancellationToken cancellationToken)
    {
        if (!IsPrivate)
        {
            return RoomRole.Editor;
        }
        var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (_cache.TryGetValue((roomId, userId), out var cached) && cached.ExpiresAt > now)
        {
            return cached.Role;
        }
        var role = await _store.JoinAsync(roomId, userId, () => MayCreateRoom(userId), cancellationToken);
        if (role is null)
        {
            LogRoomCreationRefused(userId, roomId);
            throw new CollabException(ErrorCodes.RateLimited,
                $"you created {_roomCreationBurst} rooms in a short time; wait a minute before creating room '{roomId}'");
        }
        Remember(roomId, userId, role.Value);
        return role.Value;
    }

    private bool MayCreateRoom(string userId)
    {
        using var lease = _roomCreations.AttemptAcquire(userId);
        return lease.IsAcquired;
    }

    /// <summary>
    /// Sets a user's role, as asked by <paramref name="granter"/>, who must own the room: checked first against the
    /// role the connection holds, then again in the store as the change is applied.
    /// </summary>
    public async Task GrantAsync(string roomId, string granter, RoomRole granterRole, string userId, RoomRole role, CancellationToken cancellationToken)
    {
        if (!IsPrivate)
        {
            throw new CollabException(ErrorCodes.InvalidArgument, "rooms are open to everyone (CollabHub:Rooms:DefaultAccess = Open); there is nothing to grant");
        }
        if (granterRole != RoomRole.Owner)
        {
            throw new CollabException(ErrorCodes.Forbidden, $"only an owner of room '{roomId}' may grant access");
        }
        if (userId == granter)
        {
            throw new CollabException(ErrorCodes.InvalidArgument, "an owner cannot change their own role");
        }
        if (!await _store.GrantAsync(roomId, granter, userId, role, cancellationToken))
        {
            throw new CollabException(ErrorCodes.Forbidden, $"you are no longer an owner of room '{roomId}'");
        }
        LogGranted(granter, userId, role, roomId);
        var notice = JsonSerializer.SerializeToUtf8Bytes(new AccessNotice(roomId, userId, role));
        try
        {
            await _bus.PublishAsync(Topic, notice);
        }
        catch (Exception ex)
        {
            // Stored, but other instances will not hear of it now: their caches expire, and this instance applies it.
            LogNoticeLost(ex, roomId);
            OnNotice(notice);
        }
    }

    public async Task<RoomAccess> ListAsync(string roomId, RoomRole callerRole, CancellationToken cancellationToken)
    {
        if (!IsPrivate)
        {
            return new RoomAccess(roomId, "open", []);
        }
        if (callerRole != RoomRole.Owner)
        {
            throw new CollabException(ErrorCodes.Forbidden, $"only an owner of room '{roomId}' may read its access list");
        }
        var members = await _store.ListAsync(roomId, cancellationToken);
        return new RoomAccess(roomId, "private", members.Select(m => new AccessMember(m.UserId, RoomRoles.ToWire(m.Role))).ToList());
    }

    private void OnNotice(ReadOnlyMemory<byte> data)
    {
        AccessNotice? notice;
        try
        {
            notice = JsonSerializer.Deserialize<AccessNotice>(data.Span);
        }
        catch (JsonException ex)
        {
            LogBadNotice(ex);
            return;
        }
        if (notice is null)
        {
            return;
        }
        Remember(notice.RoomId, notice.UserId, notice.Role);
        Changed?.Invoke(notice.RoomId, notice.UserId, notice.Role);
    }

    private void Remember(string roomId, string userId, RoomRole role)
    {
        if (_cache.Count >= _options.AccessCacheSize)
        {
            _cache.Clear();
        }
        _cache[(roomId, userId)] = (role, _clock.GetUtcNow().ToUnixTimeMilliseconds() + (long)_options.AccessCacheTtl.TotalMilliseconds);
    }

    private sealed record AccessNotice(string RoomId, string UserId, RoomRole Role);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "{Granter} set {UserId}'s role in room {RoomId} to {Role}")]
    private partial void LogGranted(string granter, string userId, RoomRole role, string roomId);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "An access change in room {RoomId} could not be announced to other instances; their caches expire it")]
    private partial void LogNoticeLost(Exception exception, string roomId);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information, Message = "Refused to create room {RoomId} for user {UserId}: too many rooms created")]
    private partial void LogRoomCreationRefused(string userId, string roomId);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Dropped a malformed access notice")]
    private partial void LogBadNotice(Exception exception);
}
