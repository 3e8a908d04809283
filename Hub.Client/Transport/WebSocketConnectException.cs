namespace CollabHub.Client.Transport;

/// <summary>
/// Opening a WebSocket connection to a hub failed: the server could not be reached, refused the
/// upgrade (for example with HTTP 401), the access token could not be obtained, or
/// <see cref="WebSocketTransportOptions.ConnectTimeout"/> elapsed.
/// The message names the URL (without any access token); <see cref="Exception.InnerException"/>
/// holds the underlying error.
/// </summary>
public sealed class WebSocketConnectException : IOException
{
    /// <summary>
    /// Initializes a new instance of the <see cref="WebSocketConnectException"/> class.
    /// </summary>
    /// <param name="message">The error message, naming the URL.</param>
    /// <param name="url">The URL that was being connected to, without any access token.</param>
    /// <param name="httpStatusCode">The HTTP status of the upgrade response, if the server sent one other than 101.</param>
    /// <param name="timedOut">Whether the connect timeout elapsed.</param>
    /// <param name="innerException">The underlying error.</param>
    public WebSocketConnectException(string message, Uri url, int? httpStatusCode, bool timedOut, Exception? innerException)
        : base(message, innerException)
    {
        Url = url;
        HttpStatusCode = httpStatusCode;
        TimedOut = timedOut;
    }

    /// <summary>Gets the URL that was being connected to (without any access token).</summary>
    public Uri Url { get; }

    /// <summary>
    /// Gets the HTTP status code the server answered the upgrade request with (for example 401 or 404),
    /// or <see langword="null"/> when no HTTP response was received.
    /// </summary>
    public int? HttpStatusCode { get; }

    /// <summary>Gets whether the failure is <see cref="WebSocketTransportOptions.ConnectTimeout"/> elapsing.</summary>
    public bool TimedOut { get; }
}
