using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Client;
using Microsoft.Extensions.Logging;

namespace CollabHub.Client;

/// <summary>
/// Settings of a <see cref="CollabClient"/> (and of a <see cref="CollabConnection"/>, which uses only the connection
/// settings: <see cref="Url"/> to <see cref="LoggerFactory"/>). Each default is in the property's comment.
/// </summary>
public sealed class CollabClientOptions
{
    /// <summary>The default of <see cref="ReconnectMinDelay"/>: 0.5 seconds.</summary>
    public static readonly TimeSpan DefaultReconnectMinDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>The default of <see cref="ReconnectMaxDelay"/>: 10 seconds.</summary>
    public static readonly TimeSpan DefaultReconnectMaxDelay = TimeSpan.FromSeconds(10);

    /// <summary>The default of <see cref="MaxQueuedWrites"/>: 1,000.</summary>
    public const int DefaultMaxQueuedWrites = 1000;

    /// <summary>The default of <see cref="MaxInFlight"/>, as the JS SDK's <c>maxInFlight</c>.</summary>
    public const int DefaultMaxInFlight = 100;

    /// <summary>The default of <see cref="MaxMessages"/>: 1,000.</summary>
    public const int DefaultMaxMessages = 1000;

    /// <summary>The default of <see cref="MaxValueBytes"/>: 65,536, the server's default <c>MaxValueBytes</c> and <c>MaxBodyBytes</c>.</summary>
    public const int DefaultMaxValueBytes = 65536;

    /// <summary>The default of <see cref="Transports"/>: WebSockets, Server-Sent Events and Long Polling.</summary>
    public const HttpTransportType DefaultTransports = HttpTransportType.WebSockets | HttpTransportType.ServerSentEvents | HttpTransportType.LongPolling;

    /// <summary>The default of <see cref="ConnectTimeout"/>: 15 seconds.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The hub URL, e.g. <c>http://localhost:5000/hubs/collab</c> (http or https; the WebSocket goes to ws or wss).</summary>
    public Uri? Url { get; set; }

    /// <summary>
    /// The display name to connect as on a Development server that has no identity provider (sent as <c>?name=</c>).
    /// Leave null when <see cref="AccessTokenProvider"/> supplies a real identity.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>
    /// The transports the client may use (default all three). SignalR's client negotiates
    /// (<c>POST {Url}/negotiate</c>) and takes the first one, in the order WebSockets, Server-Sent Events, Long
    /// Polling, that both sides allow and that starts: a proxy that refuses the WebSocket upgrade makes it fall back.
    /// Behind several server instances, a client that negotiates needs sticky sessions.
    /// </summary>
    public HttpTransportType Transports { get; set; } = DefaultTransports;

    /// <summary>
    /// Opens the WebSocket directly, without the negotiate request (default false). Allowed only when
    /// <see cref="Transports"/> is exactly <see cref="HttpTransportType.WebSockets"/>. A connection that skips
    /// negotiation is one upgraded request, so behind several server instances it needs no sticky sessions.
    /// </summary>
    public bool SkipNegotiation { get; set; }

    /// <summary>
    /// Returns the bearer token; null for none. SignalR's client calls it before the negotiate request and again when
    /// a request is answered 401, and sends the token in the <c>Authorization</c> header of every request of the
    /// connection (negotiate, the WebSocket handshake, the Server-Sent Events stream, each long poll and send).
    /// It is given <see cref="CancellationToken.None"/>: SignalR's client passes it no token.
    /// </summary>
    public Func<CancellationToken, ValueTask<string?>>? AccessTokenProvider { get; set; }

    /// <summary>Extra HTTP headers sent with every request of the connection (negotiate, handshake, polls and sends).</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Wraps or replaces the HTTP handler of the negotiate, Server-Sent Events and Long Polling requests (and, on
    /// .NET, the WebSocket handshake): a proxy, client certificates, a custom certificate check. Null (the default)
    /// keeps SignalR's handler. Passed to SignalR's <c>HttpConnectionOptions.HttpMessageHandlerFactory</c>.
    /// </summary>
    public Func<HttpMessageHandler, HttpMessageHandler>? HttpMessageHandlerFactory { get; set; }

    /// <summary>
    /// Configures the WebSocket before it connects: a proxy, client certificates, a certificate check, the keep-alive
    /// interval. Null (the default) keeps SignalR's settings. Passed to SignalR's
    /// <c>HttpConnectionOptions.WebSocketConfiguration</c>.
    /// </summary>
    public Action<ClientWebSocketOptions>? WebSocketConfiguration { get; set; }

    /// <summary>
    /// Anything else of SignalR's <see cref="HttpConnectionOptions"/> (cookies, credentials, buffer sizes), applied
    /// after the settings above; null (the default) for nothing. The client sets
    /// <see cref="HttpConnectionOptions.TransportMaxBufferSize"/> and
    /// <see cref="HttpConnectionOptions.ApplicationMaxBufferSize"/> to <see cref="CollabClient.DefaultMaxReceiveBytes"/>
    /// before it runs.
    /// </summary>
    public Action<HttpConnectionOptions>? ConfigureHttpConnection { get; set; }

    /// <summary>
    /// How long one connection attempt (negotiate, the transport's start and the SignalR handshake) may take before it
    /// fails with a <see cref="TimeoutException"/> (default 15 s; <see cref="Timeout.InfiniteTimeSpan"/> for no limit).
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = DefaultConnectTimeout;

    /// <summary>Where the client's and SignalR's logs go; null for none.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// The first step of the reconnect backoff (default 0.5 s). The wait before attempt n is a random time between 0
    /// and <c>min(ReconnectMinDelay * 2^(n-1), ReconnectMaxDelay)</c> (full jitter). Writes refused with a temporary
    /// error are retried on the same schedule.
    /// </summary>
    public TimeSpan ReconnectMinDelay { get; set; } = DefaultReconnectMinDelay;

    /// <summary>The cap of the reconnect backoff step (default 10 s).</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = DefaultReconnectMaxDelay;

    /// <summary>
    /// How many connection attempts in a row may fail before the client gives up and becomes
    /// <see cref="CollabClientState.Disconnected"/>; null (the default) never gives up. Counted afresh after every
    /// successful connect; it covers the first connect as well.
    /// </summary>
    public int? ReconnectMaxAttempts { get; set; }

    /// <summary>
    /// How many writes may wait for their answer at once, queued or in flight (default 1,000). A write made when the
    /// queue is full fails at once with <see cref="CollabHubException"/> code <c>queue_full</c>.
    /// </summary>
    public int MaxQueuedWrites { get; set; } = DefaultMaxQueuedWrites;

    /// <summary>
    /// How many writes may be sent without an answer yet on one connection (the pipelining window; default 100, as the
    /// JS SDK's <c>maxInFlight</c>).
    /// </summary>
    public int MaxInFlight { get; set; } = DefaultMaxInFlight;

    /// <summary>
    /// A file that keeps the unanswered writes across restarts of the app; null (the default) keeps them in memory
    /// only. The file is replaced atomically (a temporary file, then a rename) shortly after each change, and a
    /// <c>.lock</c> file beside it keeps a second client from using it at the same time. Writes found in it at start
    /// are sent again with their mutation ids: their rooms are joined for them, and their results are not reported
    /// (they show through the rooms' replicas).
    /// </summary>
    public string? OfflineQueuePath { get; set; }

    /// <summary>
    /// Whether a queued set or delete shows in the room's view at once (default true): <see cref="CollabRoom.Get"/>
    /// and <see cref="CollabRoom.Entries"/> show it over the confirmed entries until its answer; a conflict or an error
    /// rolls it back. <see cref="CollabRoom.Confirmed"/> never shows it.
    /// </summary>
    public bool OptimisticUpdates { get; set; } = true;

    /// <summary>
    /// The largest value or body, in bytes of UTF-8 JSON, a write may carry (default 65,536). A larger write fails at
    /// once with <c>too_large</c> and is not queued: the server closes a connection whose frame is too large instead of
    /// refusing the call, so such a write would be resent forever. Set it to the server's
    /// <c>CollabHub:Limits:MaxValueBytes</c> (and <c>MaxBodyBytes</c>) when those are raised.
    /// </summary>
    public int MaxValueBytes { get; set; } = DefaultMaxValueBytes;

    /// <summary>How many of a room's most recent messages its replica keeps, by seq (default 1,000; 0 keeps none).</summary>
    public int MaxMessages { get; set; } = DefaultMaxMessages;

    /// <summary>The <c>limit</c> of each catch-up <c>Sync</c>; null (the default) takes the server's page size.</summary>
    public int? SyncPageSize { get; set; }

    /// <summary>
    /// How long the client waits, after a write's answer names a seq its replica has not reached, for the write's
    /// own event before it asks the server with <c>Sync</c> (default 100 ms; zero asks at once). The event usually
    /// arrives within this time; when it was lost, the <c>Sync</c> fills the gap.
    /// </summary>
    public TimeSpan AnsweredSeqGrace { get; set; } = TimeSpan.FromMilliseconds(100);

    internal void Validate()
    {
        ValidateConnection();
        if (ReconnectMinDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectMinDelay)
        {
            throw new ArgumentException("CollabClientOptions.ReconnectMinDelay must be positive and ReconnectMaxDelay at least as long.");
        }
        if (ReconnectMaxAttempts is < 1)
        {
            throw new ArgumentException("CollabClientOptions.ReconnectMaxAttempts must be at least 1, or null for no limit.");
        }
        if (MaxInFlight < 1)
        {
            throw new ArgumentException("CollabClientOptions.MaxInFlight must be at least 1.");
        }
        if (MaxQueuedWrites < 1)
        {
            throw new ArgumentException("CollabClientOptions.MaxQueuedWrites must be at least 1.");
        }
        if (MaxValueBytes < 1)
        {
            throw new ArgumentException("CollabClientOptions.MaxValueBytes must be at least 1.");
        }
        if (MaxMessages < 0)
        {
            throw new ArgumentException("CollabClientOptions.MaxMessages must not be negative.");
        }
        if (SyncPageSize is < 1)
        {
            throw new ArgumentException("CollabClientOptions.SyncPageSize must be at least 1, or null for the server's page size.");
        }
        if (AnsweredSeqGrace < TimeSpan.Zero)
        {
            throw new ArgumentException("CollabClientOptions.AnsweredSeqGrace must not be negative.");
        }
    }

    /// <summary>Checks the connection settings, the only ones <see cref="CollabConnection"/> uses.</summary>
    internal void ValidateConnection()
    {
        if (Url is not { IsAbsoluteUri: true })
        {
            throw new ArgumentException("CollabClientOptions.Url must be an absolute hub URL, such as http://localhost:5000/hubs/collab.");
        }
        if (Transports == HttpTransportType.None || (Transports & ~DefaultTransports) != 0)
        {
            throw new ArgumentException("CollabClientOptions.Transports must name one or more of WebSockets, ServerSentEvents and LongPolling.");
        }
        if (SkipNegotiation && Transports != HttpTransportType.WebSockets)
        {
            throw new ArgumentException("CollabClientOptions.SkipNegotiation needs Transports = HttpTransportType.WebSockets: only a WebSocket can be opened without negotiating.");
        }
        if (ConnectTimeout <= TimeSpan.Zero && ConnectTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException("CollabClientOptions.ConnectTimeout must be positive, or Timeout.InfiniteTimeSpan for no limit.");
        }
    }
}
