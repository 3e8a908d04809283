using CollabHub.Client;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Tests.Infrastructure;

/// <summary>
/// One way a .NET client reaches the hub: SignalR's transports, negotiated, or a WebSocket opened directly. The SDK
/// test suites run once per value of <see cref="All"/>.
/// </summary>
public sealed record ClientTransport(string Name, HttpTransportType Transports, bool SkipNegotiation)
{
    /// <summary>A WebSocket opened without the negotiate request: what needs no sticky sessions.</summary>
    public static readonly ClientTransport DirectWebSockets = new("WebSockets without negotiation", HttpTransportType.WebSockets, SkipNegotiation: true);

    /// <summary>Negotiate, then a WebSocket.</summary>
    public static readonly ClientTransport WebSockets = new("WebSockets", HttpTransportType.WebSockets, SkipNegotiation: false);

    /// <summary>Negotiate, then a Server-Sent Events stream down and a POST per message up.</summary>
    public static readonly ClientTransport ServerSentEvents = new("Server-Sent Events", HttpTransportType.ServerSentEvents, SkipNegotiation: false);

    /// <summary>Negotiate, then long polls down and a POST per message up.</summary>
    public static readonly ClientTransport LongPolling = new("Long Polling", HttpTransportType.LongPolling, SkipNegotiation: false);

    /// <summary>Sets the options' transport.</summary>
    public void Apply(CollabClientOptions options)
    {
        options.Transports = Transports;
        options.SkipNegotiation = SkipNegotiation;
    }

    public override string ToString() => Name;
}

internal static class DirectWebSocket
{
    /// <summary>
    /// Makes the built connection open a WebSocket to <paramref name="url"/> directly (no negotiate request), with
    /// <paramref name="token"/> as its bearer token if given: a raw SignalR connection for tests below the SDK.
    /// </summary>
    public static IHubConnectionBuilder WithDirectWebSocket(this IHubConnectionBuilder builder, Uri url, string? token = null) =>
        builder.WithUrl(url, HttpTransportType.WebSockets, options =>
        {
            options.SkipNegotiation = true;
            if (token is not null)
            {
                options.AccessTokenProvider = () => Task.FromResult<string?>(token);
            }
        });
}
