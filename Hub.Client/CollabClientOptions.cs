using CollabHub.Client.Transport;
using Microsoft.Extensions.Logging;

namespace CollabHub.Client;

/// <summary>Settings of a <see cref="CollabClient"/>.</summary>
public sealed class CollabClientOptions
{
    /// <summary>The hub URL, e.g. <c>http://localhost:5000/hubs/collab</c> (http/https are used as ws/wss).</summary>
    public Uri? Url { get; set; }

    /// <summary>
    /// The display name to connect as on a Development server that has no identity provider (sent as <c>?name=</c>).
    /// Leave null when <see cref="AccessTokenProvider"/> supplies a real identity.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>Returns the bearer token for each connection attempt; null for none.</summary>
    public Func<CancellationToken, ValueTask<string?>>? AccessTokenProvider { get; set; }

    /// <summary>Extra HTTP headers sent with the WebSocket handshake.</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Fine-tunes the WebSocket transport (timeouts, buffers, certificates); applied after the settings above.</summary>
    public Action<WebSocketTransportOptions>? ConfigureTransport { get; set; }

    /// <summary>Where the client's and SignalR's logs go; null for none.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }
}
