using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;

namespace CollabHub.Client.Transport;

/// <summary>
/// An <see cref="IConnectionFactory"/> that opens a plain WebSocket straight to a hub URL
/// (no SignalR negotiate request), so that <c>HubConnection</c> from
/// <c>Microsoft.AspNetCore.SignalR.Client.Core</c> can talk to an ASP.NET Core SignalR server
/// without the HTTP connections client package.
/// </summary>
/// <remarks>
/// The server must accept WebSockets on the hub URL without negotiation, which ASP.NET Core does
/// when the WebSockets transport is enabled for the hub (the default). Each call to
/// <see cref="ConnectAsync"/> opens a new socket, so one factory serves reconnects too.
/// </remarks>
public sealed class WebSocketConnectionFactory : IConnectionFactory
{
    private readonly WebSocketTransportOptions _options;

    /// <summary>
    /// Initializes a new instance of the <see cref="WebSocketConnectionFactory"/> class.
    /// </summary>
    /// <param name="options">The transport settings; a snapshot is taken, so later changes to it have no effect.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The options are invalid (see <see cref="WebSocketTransportOptions.Validate"/>).</exception>
    public WebSocketConnectionFactory(WebSocketTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options.Clone();
    }

    /// <summary>
    /// Opens a WebSocket to the URL of a <see cref="UriEndPoint"/> and returns it as a
    /// <see cref="ConnectionContext"/> whose <see cref="ConnectionContext.Transport"/> carries the
    /// bytes of the hub protocol.
    /// </summary>
    /// <param name="endpoint">A <see cref="UriEndPoint"/> with an absolute <c>ws</c>, <c>wss</c>,
    /// <c>http</c> or <c>https</c> URL (<c>http</c> is mapped to <c>ws</c>, <c>https</c> to <c>wss</c>).</param>
    /// <param name="cancellationToken">Cancels the connect; it then ends with an <see cref="OperationCanceledException"/>.</param>
    /// <returns>The open connection. Dispose it to close the socket cleanly.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoint"/> is <see langword="null"/>.</exception>
    /// <exception cref="NotSupportedException"><paramref name="endpoint"/> is not a <see cref="UriEndPoint"/>.</exception>
    /// <exception cref="ArgumentException">The URL is relative or has an unsupported scheme.</exception>
    /// <exception cref="WebSocketConnectException">The connection could not be opened, or the connect timeout elapsed.</exception>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not UriEndPoint uriEndPoint)
        {
            throw new NotSupportedException(
                $"{nameof(WebSocketConnectionFactory)} only connects to a {nameof(UriEndPoint)} (a ws://, wss://, http:// or https:// URL); " +
                $"it was given a {endpoint.GetType().FullName}: '{endpoint}'.");
        }

        var url = ToWebSocketUrl(uriEndPoint.Uri, nameof(endpoint));
        cancellationToken.ThrowIfCancellationRequested();

        var socket = new ClientWebSocket();
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_options.ConnectTimeout != Timeout.InfiniteTimeSpan)
        {
            timeoutCts.CancelAfter(_options.ConnectTimeout);
        }

        var connectUrl = url;
        try
        {
            var wsOptions = socket.Options;
            wsOptions.KeepAliveInterval = _options.KeepAliveInterval == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : _options.KeepAliveInterval;
            wsOptions.CollectHttpResponseDetails = true;

            // Lets cookie-authenticated servers answer 401 rather than redirect to a login page.
            wsOptions.SetRequestHeader("X-Requested-With", "XMLHttpRequest");
            foreach (var header in _options.Headers)
            {
                wsOptions.SetRequestHeader(header.Key, header.Value);
            }

            if (_options.AccessTokenProvider is { } tokenProvider)
            {
                string? token;
                try
                {
                    token = await tokenProvider(timeoutCts.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    throw new WebSocketConnectException(
                        $"Could not connect to '{url}': the access token provider failed: {ex.Message}",
                        url, httpStatusCode: null, timedOut: false, ex);
                }

                if (!string.IsNullOrEmpty(token))
                {
                    if (_options.SendAccessTokenInQueryString)
                    {
                        connectUrl = AppendQuery(url, "access_token=" + Uri.EscapeDataString(token));
                    }
                    else
                    {
                        wsOptions.SetRequestHeader("Authorization", "Bearer " + token);
                    }
                }
            }

            _options.ConfigureWebSocket?.Invoke(wsOptions);

            await socket.ConnectAsync(connectUrl, timeoutCts.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            int? status = socket.HttpStatusCode is 0 ? null : (int)socket.HttpStatusCode;
            socket.Dispose();

            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            if (ex is WebSocketConnectException)
            {
                throw;
            }

            if (timeoutCts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new WebSocketConnectException(
                    $"Could not connect to '{url}': no connection within the connect timeout of {_options.ConnectTimeout.TotalSeconds:0.###} s.",
                    url, httpStatusCode: null, timedOut: true, new TimeoutException("The WebSocket connect timed out.", ex));
            }

            var detail = status is { } code
                ? $"the server answered HTTP {code} instead of switching to WebSockets"
                : ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message;
            throw new WebSocketConnectException($"Could not connect to '{url}': {detail}", url, status, timedOut: false, ex);
        }

        var connection = new WebSocketConnection(socket, url, _options);
        connection.Start();
        return connection;
    }

    /// <summary>Maps http/https to ws/wss and checks the URL is absolute with a supported scheme.</summary>
    internal static Uri ToWebSocketUrl(Uri url, string paramName)
    {
        ArgumentNullException.ThrowIfNull(url, paramName);
        if (!url.IsAbsoluteUri)
        {
            throw new ArgumentException($"The hub URL must be absolute (e.g. ws://host:port/hubs/name); it was '{url}'.", paramName);
        }

        string scheme = url.Scheme.ToLowerInvariant() switch
        {
            "ws" or "http" => "ws",
            "wss" or "https" => "wss",
            _ => throw new ArgumentException(
                $"The hub URL must use ws, wss, http or https; '{url}' uses '{url.Scheme}'.", paramName),
        };

        if (scheme == url.Scheme)
        {
            return url;
        }

        // UriBuilder keeps an explicit port; the default ports of http/ws (80) and https/wss (443) agree.
        var builder = new UriBuilder(url) { Scheme = scheme };
        if (url.IsDefaultPort)
        {
            builder.Port = -1;
        }

        return builder.Uri;
    }

    private static Uri AppendQuery(Uri url, string pair)
    {
        var builder = new UriBuilder(url);
        var query = builder.Query;
        builder.Query = string.IsNullOrEmpty(query) || query == "?" ? pair : query.TrimStart('?') + "&" + pair;
        return builder.Uri;
    }
}
