using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Security;

/// <summary>
/// Binds every request on an existing connection to the user who negotiated it. SignalR 10 serves a Long Polling
/// poll or send, a Server-Sent Events stream and a stateful-reconnect re-attach to anyone authenticated who names
/// the connection's token (<c>?id=</c>), so a user who learned another's token could read that connection's events
/// and call the hub as its user. Here the negotiate answer is read once to record token → user, and a request that
/// names a token is let through only when it is authenticated as that token's user: otherwise 403, before SignalR
/// sees it, so nothing is delivered or executed. A token this instance did not hand out (or no longer knows) gets
/// 404, as SignalR would answer for a connection that does not exist.
/// </summary>
internal sealed partial class ConnectionBinding(ILogger<ConnectionBinding> logger, TimeProvider clock)
{
    /// <summary>How long a negotiated connection may take to start before its binding is forgotten (SignalR drops it after 15 s).</summary>
    private static readonly TimeSpan StartWindow = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<string, Binding> _byToken = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _tokenOfConnection = new(StringComparer.Ordinal);
    private long _nextSweepAt;

    /// <summary>Connections negotiated here and not yet closed (or forgotten as never started).</summary>
    public int Count => _byToken.Count;

    /// <summary>The middleware: records negotiations and checks every request that names a connection.</summary>
    public RequestDelegate Handle(RequestDelegate next, string hubPath) => async context =>
    {
        if (!context.Request.Path.StartsWithSegments(hubPath, StringComparison.OrdinalIgnoreCase, out var rest))
        {
            await next(context);
        }
        else if (rest.Equals("/negotiate", StringComparison.OrdinalIgnoreCase))
        {
            await RecordNegotiationAsync(context, next);
        }
        else if (rest.HasValue || context.Request.Query["id"].ToString() is not { Length: > 0 } token)
        {
            // A connection without negotiation (WebSockets with skipNegotiation) is its own request's user.
            await next(context);
        }
        else if (Check(token, UserIdentity.From(context.User)?.UserId) is { } refusal)
        {
            context.Response.StatusCode = refusal;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(refusal == StatusCodes.Status403Forbidden
                ? "forbidden: this connection belongs to another user"
                : "not_found: no such connection on this server");
        }
        else
        {
            await next(context);
        }
    };

    /// <summary>The hub filter's part: a connection that started is kept until it closes; one refused at start is forgotten.</summary>
    public void Started(string connectionId)
    {
        if (_tokenOfConnection.TryGetValue(connectionId, out var token) && _byToken.TryGetValue(token, out var binding))
        {
            binding.Started = true;
        }
    }

    public void Closed(string connectionId)
    {
        if (_tokenOfConnection.TryRemove(connectionId, out var token))
        {
            _byToken.TryRemove(token, out _);
        }
    }

    private int? Check(string token, string? userId)
    {
        if (!_byToken.TryGetValue(token, out var binding))
        {
            return StatusCodes.Status404NotFound;
        }
        if (userId is not null && string.Equals(binding.UserId, userId, StringComparison.Ordinal))
        {
            return null;
        }
        LogRefused(userId ?? "(anonymous)", binding.UserId, binding.ConnectionId);
        return StatusCodes.Status403Forbidden;
    }

    private async Task RecordNegotiationAsync(HttpContext context, RequestDelegate next)
    {
        var original = context.Response.Body;
        using var answer = new MemoryStream();
        context.Response.Body = answer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }
        if (context.Response.StatusCode == StatusCodes.Status200OK && UserIdentity.From(context.User)?.UserId is { } userId)
        {
            Record(answer.GetBuffer().AsSpan(0, (int)answer.Length), userId);
        }
        answer.Position = 0;
        await answer.CopyToAsync(original, context.RequestAborted);
    }

    /// <summary>Reads <c>connectionId</c> and <c>connectionToken</c> from a negotiate answer (absent when it refused).</summary>
    private void Record(ReadOnlySpan<byte> negotiateAnswer, string userId)
    {
        string? connectionId = null, token = null;
        try
        {
            var reader = new Utf8JsonReader(negotiateAnswer);
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                {
                    var name = reader.GetString();
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        if (name == "connectionId") connectionId = reader.GetString();
                        else if (name == "connectionToken") token = reader.GetString();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
        }
        catch (JsonException)
        {
            return;
        }
        if (connectionId is null || token is null)
        {
            return;
        }
        var now = clock.GetTimestamp();
        _byToken[token] = new Binding(userId, connectionId, now);
        _tokenOfConnection[connectionId] = token;
        SweepUnstarted(now);
    }

    /// <summary>Forgets negotiations that never started a connection, at most every half start window.</summary>
    private void SweepUnstarted(long now)
    {
        var due = Interlocked.Read(ref _nextSweepAt);
        if (now < due || Interlocked.CompareExchange(ref _nextSweepAt, now + clock.TimestampFrequency * (long)StartWindow.TotalSeconds / 2, due) != due)
        {
            return;
        }
        foreach (var (token, binding) in _byToken)
        {
            if (!binding.Started && clock.GetElapsedTime(binding.NegotiatedAt, now) > StartWindow)
            {
                _byToken.TryRemove(token, out _);
                _tokenOfConnection.TryRemove(binding.ConnectionId, out _);
            }
        }
    }

    private sealed class Binding(string userId, string connectionId, long negotiatedAt)
    {
        public string UserId { get; } = userId;
        public string ConnectionId { get; } = connectionId;
        public long NegotiatedAt { get; } = negotiatedAt;
        public volatile bool Started;
    }

    [LoggerMessage(EventId = 7301, Level = LogLevel.Warning,
        Message = "Refused a request of user {UserId} on connection {ConnectionId}, which user {OwnerId} negotiated")]
    private partial void LogRefused(string userId, string ownerId, string connectionId);
}

/// <summary>Tells <see cref="ConnectionBinding"/> which negotiated connections started and when they close.</summary>
internal sealed class ConnectionBindingFilter(ConnectionBinding bindings) : IHubFilter
{
    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        try
        {
            await next(context);
        }
        catch
        {
            bindings.Closed(context.Context.ConnectionId);
            throw;
        }
        bindings.Started(context.Context.ConnectionId);
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        try
        {
            await next(context, exception);
        }
        finally
        {
            bindings.Closed(context.Context.ConnectionId);
        }
    }
}
