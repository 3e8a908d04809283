using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;

namespace CollabHub.Client.Transport;

/// <summary>
/// Settings for <see cref="WebSocketConnectionFactory"/>: how the WebSocket to the hub is opened,
/// kept alive, buffered and closed.
/// </summary>
/// <remarks>
/// The factory takes a snapshot of these options (and of <see cref="Headers"/>) when it is
/// constructed, so changing an instance afterwards does not affect an existing factory.
/// Call <see cref="Validate"/> to check the values; the factory does so itself.
/// </remarks>
public sealed class WebSocketTransportOptions
{
    /// <summary>The default for <see cref="ConnectTimeout"/>: 15 seconds.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The default for <see cref="CloseTimeout"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultCloseTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The default for <see cref="KeepAliveInterval"/>: 15 seconds.</summary>
    public static readonly TimeSpan DefaultKeepAliveInterval = TimeSpan.FromSeconds(15);

    /// <summary>The default for <see cref="MaxReceiveBufferBytes"/> and <see cref="MaxSendBufferBytes"/>: 1 MiB.</summary>
    public const int DefaultMaxBufferBytes = 1024 * 1024;

    /// <summary>The smallest value accepted for <see cref="MaxReceiveBufferBytes"/> and <see cref="MaxSendBufferBytes"/>: 1 KiB.</summary>
    public const int MinBufferBytes = 1024;

    // CancellationTokenSource.CancelAfter and Task.Delay accept at most uint.MaxValue - 1 ms; stay well inside.
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(int.MaxValue);

    private IDictionary<string, string> _headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Gets or sets a callback that supplies an access token each time a connection is opened
    /// (including automatic reconnects). A non-empty token is sent as an
    /// <c>Authorization: Bearer &lt;token&gt;</c> request header, or, when
    /// <see cref="SendAccessTokenInQueryString"/> is <see langword="true"/>, as an
    /// <c>access_token</c> query parameter. A <see langword="null"/> or empty token sends nothing.
    /// The callback runs inside <see cref="ConnectTimeout"/>; an exception it throws fails the connect.
    /// </summary>
    public Func<CancellationToken, ValueTask<string?>>? AccessTokenProvider { get; set; }

    /// <summary>
    /// Gets or sets whether the access token is appended to the URL as
    /// <c>access_token=&lt;url-encoded token&gt;</c> instead of being sent in the
    /// <c>Authorization</c> header. Use this only for servers that read the token from the query
    /// string alone; query strings tend to end up in logs. Default <see langword="false"/>.
    /// </summary>
    public bool SendAccessTokenInQueryString { get; set; }

    /// <summary>
    /// Gets or sets extra HTTP headers sent with the WebSocket upgrade request. Names are
    /// case-insensitive in the default dictionary. An <c>Authorization</c> header produced by
    /// <see cref="AccessTokenProvider"/> replaces one given here. The transport itself sends
    /// <c>X-Requested-With: XMLHttpRequest</c> (so that cookie-authenticated servers answer 401
    /// rather than redirect), unless a header of that name is given here.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value set is <see langword="null"/>.</exception>
    public IDictionary<string, string> Headers
    {
        get => _headers;
        set => _headers = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>
    /// Gets or sets how long opening the connection (getting the access token, the TCP/TLS
    /// connect and the WebSocket upgrade) may take before it fails with a
    /// <see cref="WebSocketConnectException"/> whose <see cref="WebSocketConnectException.TimedOut"/>
    /// is <see langword="true"/>. Must be positive, or <see cref="Timeout.InfiniteTimeSpan"/> for no limit.
    /// Default 15 seconds.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = DefaultConnectTimeout;

    /// <summary>
    /// Gets or sets how long a clean close (disposing the connection) waits, after sending its
    /// Close frame, for the pending outgoing data to be sent and for the server's Close frame.
    /// When it elapses the socket is aborted. Must be zero (abort at once) or positive and finite.
    /// Default 5 seconds.
    /// </summary>
    public TimeSpan CloseTimeout { get; set; } = DefaultCloseTimeout;

    /// <summary>
    /// Gets or sets the interval of WebSocket-level keep-alive (ping/pong) frames, which keep
    /// idle connections open through proxies. <see cref="TimeSpan.Zero"/> or
    /// <see cref="Timeout.InfiniteTimeSpan"/> disables them. Default 15 seconds.
    /// This is independent of the SignalR ping that <c>HubConnection</c> sends itself.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; set; } = DefaultKeepAliveInterval;

    /// <summary>
    /// Gets or sets the most bytes received from the server that the transport holds before the
    /// <c>HubConnection</c> has consumed them. When that much is buffered the transport stops
    /// reading from the socket (backpressure: TCP flow control then slows the server down) and
    /// resumes as soon as the consumer has taken some of it. Because a partly received message
    /// cannot be consumed, this is also the largest single WebSocket message accepted: a larger
    /// one fails the connection with an <see cref="InvalidDataException"/> instead of stalling it.
    /// At least <see cref="MinBufferBytes"/>. Default 1 MiB.
    /// </summary>
    public int MaxReceiveBufferBytes { get; set; } = DefaultMaxBufferBytes;

    /// <summary>
    /// Gets or sets the most bytes written by the <c>HubConnection</c> that may wait to be sent.
    /// When that much is pending, the writer's flush (and so the hub invocation or send that
    /// caused it) waits until the socket has sent at least half of it. Writes are never dropped.
    /// At least <see cref="MinBufferBytes"/>. Default 1 MiB.
    /// </summary>
    public int MaxSendBufferBytes { get; set; } = DefaultMaxBufferBytes;

    /// <summary>
    /// Gets or sets the transfer format of outgoing data: <see cref="TransferFormat.Text"/> sends
    /// WebSocket text messages, <see cref="TransferFormat.Binary"/> binary ones. It must match the
    /// hub protocol (Text for JSON, Binary for MessagePack). <c>WithWebSocketUrl</c> sets it from the
    /// registered hub protocol, overriding what is set here. The connection's
    /// <c>ITransferFormatFeature.ActiveFormat</c> starts with this value and can change it later.
    /// Default <see cref="TransferFormat.Text"/>.
    /// </summary>
    public TransferFormat TransferFormat { get; set; } = TransferFormat.Text;

    /// <summary>
    /// Gets or sets a hook that runs on every new <see cref="ClientWebSocketOptions"/> after the
    /// transport has applied its own settings (headers, token, keep-alive), for example to add
    /// client certificates, a proxy, cookies or a remote certificate validation callback.
    /// </summary>
    public Action<ClientWebSocketOptions>? ConfigureWebSocket { get; set; }

    /// <summary>
    /// Checks that the options are usable.
    /// </summary>
    /// <exception cref="ArgumentException">A value is out of range or a header is malformed; the message names it.</exception>
    public void Validate()
    {
        if (ConnectTimeout != Timeout.InfiniteTimeSpan && (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > MaxTimeout))
        {
            throw new ArgumentException(
                $"{nameof(ConnectTimeout)} must be positive and at most {MaxTimeout}, or Timeout.InfiniteTimeSpan; it was {ConnectTimeout}.",
                nameof(ConnectTimeout));
        }

        if (CloseTimeout < TimeSpan.Zero || CloseTimeout > MaxTimeout)
        {
            throw new ArgumentException(
                $"{nameof(CloseTimeout)} must be zero or positive and at most {MaxTimeout}; it was {CloseTimeout}.",
                nameof(CloseTimeout));
        }

        if (KeepAliveInterval != Timeout.InfiniteTimeSpan && (KeepAliveInterval < TimeSpan.Zero || KeepAliveInterval > MaxTimeout))
        {
            throw new ArgumentException(
                $"{nameof(KeepAliveInterval)} must be zero or positive and at most {MaxTimeout}, or Timeout.InfiniteTimeSpan; it was {KeepAliveInterval}.",
                nameof(KeepAliveInterval));
        }

        if (MaxReceiveBufferBytes < MinBufferBytes)
        {
            throw new ArgumentException(
                $"{nameof(MaxReceiveBufferBytes)} must be at least {MinBufferBytes}; it was {MaxReceiveBufferBytes}.",
                nameof(MaxReceiveBufferBytes));
        }

        if (MaxSendBufferBytes < MinBufferBytes)
        {
            throw new ArgumentException(
                $"{nameof(MaxSendBufferBytes)} must be at least {MinBufferBytes}; it was {MaxSendBufferBytes}.",
                nameof(MaxSendBufferBytes));
        }

        if (TransferFormat != TransferFormat.Text && TransferFormat != TransferFormat.Binary)
        {
            throw new ArgumentException(
                $"{nameof(TransferFormat)} must be exactly Text or Binary; it was {TransferFormat}.",
                nameof(TransferFormat));
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in Headers)
        {
            if (header.Key is not null && !seen.Add(header.Key))
            {
                throw new ArgumentException(
                    $"{nameof(Headers)} contains header '{header.Key}' more than once (names are case-insensitive).",
                    nameof(Headers));
            }

            if (string.IsNullOrWhiteSpace(header.Key) || header.Key.Any(c => c <= ' ' || c >= 0x7F || c == ':'))
            {
                throw new ArgumentException(
                    $"{nameof(Headers)} contains an invalid header name '{header.Key}'.",
                    nameof(Headers));
            }

            if (header.Value is null || header.Value.Contains('\r') || header.Value.Contains('\n'))
            {
                throw new ArgumentException(
                    $"{nameof(Headers)} has a null value or a value with a line break for header '{header.Key}'.",
                    nameof(Headers));
            }
        }
    }

    /// <summary>A copy that later changes to this instance (or its header dictionary) cannot affect.</summary>
    internal WebSocketTransportOptions Clone() => new()
    {
        AccessTokenProvider = AccessTokenProvider,
        SendAccessTokenInQueryString = SendAccessTokenInQueryString,
        Headers = new Dictionary<string, string>(Headers, StringComparer.OrdinalIgnoreCase),
        ConnectTimeout = ConnectTimeout,
        CloseTimeout = CloseTimeout,
        KeepAliveInterval = KeepAliveInterval,
        MaxReceiveBufferBytes = MaxReceiveBufferBytes,
        MaxSendBufferBytes = MaxSendBufferBytes,
        TransferFormat = TransferFormat,
        ConfigureWebSocket = ConfigureWebSocket,
    };
}
