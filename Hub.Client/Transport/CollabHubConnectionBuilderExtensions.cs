using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CollabHub.Client.Transport;

/// <summary>
/// Connects a <see cref="HubConnectionBuilder"/> to a hub over <see cref="WebSocketConnectionFactory"/>
/// (a direct WebSocket, no negotiate request).
/// </summary>
public static class CollabHubConnectionBuilderExtensions
{
    /// <summary>
    /// Makes the built <see cref="HubConnection"/> connect to <paramref name="url"/> over a direct
    /// WebSocket: registers a <see cref="WebSocketConnectionFactory"/> as the
    /// <see cref="IConnectionFactory"/> and a <see cref="UriEndPoint"/> for <paramref name="url"/> as the
    /// <see cref="EndPoint"/>, replacing earlier registrations of either. The WebSocket message type
    /// (<see cref="WebSocketTransportOptions.TransferFormat"/>) is taken from the registered
    /// <see cref="IHubProtocol"/>; <see cref="HubConnectionBuilder"/> registers the JSON protocol by default.
    /// </summary>
    /// <example>
    /// <code>
    /// var connection = new HubConnectionBuilder()
    ///     .WithWebSocketUrl(new Uri("ws://127.0.0.1:5000/hubs/collab"),
    ///         o => o.AccessTokenProvider = _ => ValueTask.FromResult&lt;string?&gt;(token))
    ///     .Build();
    /// </code>
    /// </example>
    /// <param name="builder">The builder to configure.</param>
    /// <param name="url">The absolute hub URL: <c>ws</c>, <c>wss</c>, <c>http</c> (sent as <c>ws</c>) or <c>https</c> (sent as <c>wss</c>).</param>
    /// <param name="configure">Sets transport options; it runs once, during this call.</param>
    /// <returns>The same builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="url"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="url"/> is relative or has an unsupported scheme, or the options are invalid.</exception>
    public static IHubConnectionBuilder WithWebSocketUrl(
        this IHubConnectionBuilder builder,
        Uri url,
        Action<WebSocketTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(url);

        var webSocketUrl = WebSocketConnectionFactory.ToWebSocketUrl(url, nameof(url));

        var options = new WebSocketTransportOptions();
        configure?.Invoke(options);
        options.Validate();
        var snapshot = options.Clone();

        builder.Services.RemoveAll<IConnectionFactory>();
        builder.Services.AddSingleton<IConnectionFactory>(services =>
        {
            var effective = snapshot.Clone();
            if (services.GetService<IHubProtocol>() is { } protocol)
            {
                effective.TransferFormat = protocol.TransferFormat.HasFlag(TransferFormat.Binary) ? TransferFormat.Binary : TransferFormat.Text;
            }

            return new WebSocketConnectionFactory(effective);
        });

        builder.Services.RemoveAll<EndPoint>();
        builder.Services.AddSingleton<EndPoint>(new UriEndPoint(webSocketUrl));

        return builder;
    }
}
