using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Telemetry;
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
/// <remarks>
/// The buckets (<see cref="TokenBucket"/>) refill from the clock when used: an idle connection's five cost no timer.
/// </remarks>
internal sealed partial class RateLimitFilter : IHubFilter
{
    private readonly RateLimitOptions _options;
    private readonly ConcurrentDictionary<string, UserBuckets> _users = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock;
    private readonly ILogger<RateLimitFilter> _logger;
    private readonly CollabHubMetrics _metrics;

    public RateLimitFilter(IOptions<CollabHubOptions> options, TimeProvider clock, ILogger<RateLimitFilter> logger, CollabHubMetrics metrics)
    {
        _metrics = metrics;
        _options = options.Value.Limits.Rates;
        _clock = clock;
        _logger = logger;
    }

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        var user = context.Context.UserIdentifier ?? context.Context.ConnectionId;
        var buckets = _users.AddOrUpdate(user, _ => new UserBuckets(_options, _clock), (_, existing) => existing.Retain());
        var connection = new ConnectionBuckets(user, buckets, _options, _clock);
        // In the connection's features rather than Context.Items, which would cost each connection a dictionary.
        context.Context.Features.Set(connection);
        try
        {
            await next(context);
        }
        catch
        {
            // A refused connection (e.g. too_many_connections) never gets OnDisconnectedAsync: let go of its buckets now.
            context.Context.Features.Set<ConnectionBuckets>(null);
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
            if (context.Context.Features.Get<ConnectionBuckets>() is { } connection)
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
        if (connection.UserBuckets.Release())
        {
            _users.TryRemove(new KeyValuePair<string, UserBuckets>(connection.User, connection.UserBuckets));
        }
    }

    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        if (context.Context.Features.Get<ConnectionBuckets>() is not { } connection)
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

    private void Acquire(TokenBucket own, TokenBucket? shared, ConnectionBuckets connection, HubInvocationContext context, string kind)
    {
        if (!own.TryTake())
        {
            throw Refuse(connection, context, kind, "this connection");
        }
        if (shared is not null && !shared.TryTake())
        {
            throw Refuse(connection, context, kind, "this user");
        }
    }

    private static async ValueTask<object?> ChargeReadAsync(ValueTask<object?> read, TokenBucket budget)
    {
        var result = await read;
        budget.Charge(result switch
        {
            JoinResult join => SizeOf(join.Entries, join.Messages),
            SyncResult sync => SizeOf(sync.Entries, sync.Messages),
            _ => 0,
        });
        return result;
    }

    /// <summary>What a read answer costs: the UTF-8 JSON of its values and bodies (keys and envelopes are bounded by the item count).</summary>
    private static long SizeOf(IReadOnlyList<Entry> entries, IReadOnlyList<Message> messages)
    {
        long bytes = 0;
        foreach (var entry in entries)
        {
            bytes += entry.Key.Length + (entry.Value is { } value ? JsonMarshal.GetRawUtf8Value(value).Length : 0);
        }
        foreach (var message in messages)
        {
            bytes += JsonMarshal.GetRawUtf8Value(message.Body).Length;
        }
        return bytes;
    }

    private CollabException Refuse(ConnectionBuckets connection, HubInvocationContext context, string kind, string who)
    {
        _metrics.RateLimited(kind);
        if (Interlocked.Increment(ref connection.Refused) == 1)
        {
            LogRefused(connection.User, context.Context.ConnectionId, kind, who);
        }
        return new CollabException(ErrorCodes.RateLimited, $"too many {kind} from {who}; slow down and retry");
    }

    private sealed class ConnectionBuckets(string user, UserBuckets userBuckets, RateLimitOptions options, TimeProvider clock)
    {
        public int Refused;
        public string User { get; } = user;
        public UserBuckets UserBuckets { get; } = userBuckets;
        public TokenBucket Writes { get; } = new(options.WritesPerSecond, options.WriteBurst, clock);
        public TokenBucket Signals { get; } = new(options.SignalsPerSecond, options.SignalBurst, clock);
        public TokenBucket Reads { get; } = new(options.ReadsPerSecond, options.ReadBurst, clock);
    }

    /// <summary>A user's shared buckets, counted by the connections holding them.</summary>
    private sealed class UserBuckets(RateLimitOptions options, TimeProvider clock)
    {
        private int _holders = 1;

        public TokenBucket Writes { get; } = new(options.UserWritesPerSecond, options.UserWriteBurst, clock);
        public TokenBucket Signals { get; } = new(options.UserSignalsPerSecond, options.UserSignalBurst, clock);
        public TokenBucket ReadBytes { get; } = new(options.UserReadBytesPerSecond, options.UserReadBytesBurst, clock);

        public UserBuckets Retain()
        {
            Interlocked.Increment(ref _holders);
            return this;
        }

        /// <summary>True when the last holder let go.</summary>
        public bool Release() => Interlocked.Decrement(ref _holders) == 0;
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Warning, Message = "Rate limit: refused {Kind} of user {User} on connection {ConnectionId} (limit of {Who}); further refusals are counted")]
    private partial void LogRefused(string user, string connectionId, string kind, string who);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "Rate limit: connection {ConnectionId} of user {User} had {Count} calls refused")]
    private partial void LogRefusedTotal(string user, string connectionId, int count);
}
