using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Hubs;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Security;

/// <summary>
/// Token buckets on writes (Set, Delete, Post, Batch) and on signals, per connection and per user (over the user's
/// connections to this instance), and on reads (Join, Sync): a count per connection, and a budget of bytes served
/// per user, so that nobody can make the server copy megabytes for them in a loop. A call over a limit fails at once
/// with <c>rate_limited</c>; it does not wait, so one flooding client costs the server a refusal per call and slows
/// nobody else. The first refusal of a connection is logged; later ones are counted and logged when it closes.
/// Writes pass through without an await, so they reach the writer's queue in the order they arrived (RoomsHub).
/// </summary>
internal sealed partial class RateLimitFilter : IHubFilter, IDisposable
{
    private const string StateKey = nameof(RateLimitFilter);

    private readonly RateLimitOptions _options;
    private readonly ConcurrentDictionary<string, UserBuckets> _users = new(StringComparer.Ordinal);
    private readonly ILogger<RateLimitFilter> _logger;

    public RateLimitFilter(IOptions<CollabHubOptions> options, ILogger<RateLimitFilter> logger)
    {
        _options = options.Value.Limits.Rates;
        _logger = logger;
    }

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        var user = context.Context.UserIdentifier ?? context.Context.ConnectionId;
        var buckets = _users.AddOrUpdate(user, _ => new UserBuckets(_options), (_, existing) => existing.Retain());
        var connection = new ConnectionBuckets(user, buckets, _options);
        context.Context.Items[StateKey] = connection;
        try
        {
            await next(context);
        }
        catch
        {
            // A refused connection (e.g. too_many_connections) never gets OnDisconnectedAsync: let go of its buckets now.
            context.Context.Items.Remove(StateKey);
            Release(connection);
            throw;
        }
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        try
        {
            await next(context, exception);
        }
        finally
        {
            if (context.Context.Items.TryGetValue(StateKey, out var state) && state is ConnectionBuckets connection)
            {
                if (connection.Refused > 1)
                {
                    LogRefusedTotal(connection.User, context.Context.ConnectionId, connection.Refused);
                }
                Release(connection);
            }
        }
    }

    private void Release(ConnectionBuckets connection)
    {
        connection.Dispose();
        if (connection.UserBuckets.Release())
        {
            _users.TryRemove(new KeyValuePair<string, UserBuckets>(connection.User, connection.UserBuckets));
            connection.UserBuckets.Dispose();
        }
    }

    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        if (!context.Context.Items.TryGetValue(StateKey, out var state) || state is not ConnectionBuckets connection)
        {
            return next(context);
        }
        switch (context.HubMethodName)
        {
            // A batch is one write, whatever its number of operations (they share one commit).
            case HubMethods.Set or HubMethods.Delete or HubMethods.Post or HubMethods.Batch:
                Acquire(connection.Writes, connection.UserBuckets.Writes, connection, context, "writes");
                return next(context);
            case HubMethods.Signal:
                Acquire(connection.Signals, connection.UserBuckets.Signals, connection, context, "signals");
                return next(context);
            case HubMethods.Join or HubMethods.Sync:
                Acquire(connection.Reads, null, connection, context, "reads");
                if (!connection.UserBuckets.ReadBytes.HasBudget())
                {
                    throw Refuse(connection, context, "bytes read", "this user");
                }
                return ChargeReadAsync(next(context), connection.UserBuckets.ReadBytes);
            default:
                return next(context);
        }
    }

    private void Acquire(RateLimiter own, RateLimiter? shared, ConnectionBuckets connection, HubInvocationContext context, string kind)
    {
        using var ownLease = own.AttemptAcquire();
        if (!ownLease.IsAcquired)
        {
            throw Refuse(connection, context, kind, "this connection");
        }
        using var sharedLease = shared?.AttemptAcquire();
        if (sharedLease is { IsAcquired: false })
        {
            throw Refuse(connection, context, kind, "this user");
        }
    }

    private static async ValueTask<object?> ChargeReadAsync(ValueTask<object?> read, ByteBudget budget)
    {
        var result = await read;
        budget.Charge(result switch
        {
            JoinResult join => ByteBudget.SizeOf(join.Entries, join.Messages),
            SyncResult sync => ByteBudget.SizeOf(sync.Entries, sync.Messages),
            _ => 0,
        });
        return result;
    }

    private HubException Refuse(ConnectionBuckets connection, HubInvocationContext context, string kind, string who)
    {
        if (Interlocked.Increment(ref connection.Refused) == 1)
        {
            LogRefused(connection.User, context.Context.ConnectionId, kind, who);
        }
        return HubErrors.Create(ErrorCodes.RateLimited, $"too many {kind} from {who}; slow down and retry");
    }

    public void Dispose()
    {
        foreach (var user in _users.Values)
        {
            user.Dispose();
        }
    }

    private static TokenBucketRateLimiter Bucket(int perSecond, int burst) => new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = burst,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    });

    private sealed class ConnectionBuckets(string user, UserBuckets userBuckets, RateLimitOptions options) : IDisposable
    {
        public int Refused;
        public string User { get; } = user;
        public UserBuckets UserBuckets { get; } = userBuckets;
        public TokenBucketRateLimiter Writes { get; } = Bucket(options.WritesPerSecond, options.WriteBurst);
        public TokenBucketRateLimiter Signals { get; } = Bucket(options.SignalsPerSecond, options.SignalBurst);
        public TokenBucketRateLimiter Reads { get; } = Bucket(options.ReadsPerSecond, options.ReadBurst);

        public void Dispose()
        {
            Writes.Dispose();
            Signals.Dispose();
            Reads.Dispose();
        }
    }

    /// <summary>A user's shared buckets, counted by the connections holding them.</summary>
    private sealed class UserBuckets(RateLimitOptions options) : IDisposable
    {
        private int _holders = 1;

        public TokenBucketRateLimiter Writes { get; } = Bucket(options.UserWritesPerSecond, options.UserWriteBurst);
        public TokenBucketRateLimiter Signals { get; } = Bucket(options.UserSignalsPerSecond, options.UserSignalBurst);
        public ByteBudget ReadBytes { get; } = new(options.UserReadBytesPerSecond, options.UserReadBytesBurst, TimeProvider.System);

        public UserBuckets Retain()
        {
            Interlocked.Increment(ref _holders);
            return this;
        }

        /// <summary>True when the last holder let go.</summary>
        public bool Release() => Interlocked.Decrement(ref _holders) == 0;

        public void Dispose()
        {
            Writes.Dispose();
            Signals.Dispose();
        }
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Warning, Message = "Rate limit: refused {Kind} of user {User} on connection {ConnectionId} (limit of {Who}); further refusals are counted")]
    private partial void LogRefused(string user, string connectionId, string kind, string who);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "Rate limit: connection {ConnectionId} of user {User} had {Count} calls refused")]
    private partial void LogRefusedTotal(string user, string connectionId, int count);
}
