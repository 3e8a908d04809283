using System.Collections.Concurrent;
using System.Net;
using CollabHub.Client;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.Http.Connections;

namespace CollabHub.Tests.ClientSdk;

/// <summary>
/// The fallback of a negotiating client, and the hooks that reach SignalR's requests: a WebSocket that cannot be opened
/// (here: its proxy refuses) makes the client go on with the next transport it allows.
/// </summary>
public sealed class TransportFallbackTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Theory]
    [InlineData(CollabClientOptions.DefaultTransports, true)]
    [InlineData(HttpTransportType.WebSockets | HttpTransportType.LongPolling, false)]
    public async Task A_client_whose_WebSocket_fails_falls_back_to_the_next_transport_it_allows(HttpTransportType transports, bool serverSentEvents)
    {
        var requests = new ConcurrentQueue<(HttpMethod Method, string Accept)>();
        await using var client = SdkTestKit.NewClient(fixture.Server.HubUrl, "ada", options =>
        {
            options.Transports = transports;
            // A proxy that is not there: the WebSocket's connect fails, as behind a proxy that drops upgrades.
            options.WebSocketConfiguration = socket => socket.Proxy = new WebProxy(new Uri("http://127.0.0.1:9"));
            options.HttpMessageHandlerFactory = inner => new RecordingHandler(inner, requests);
        });

        await client.StartAsync().Within();
        var room = await client.JoinAsync(TestClients.NewRoom()).Within();
        Assert.True((await room.SetAsync("title", "over the fallback").Within()).Applied);

        // Negotiate first, then Server-Sent Events (one GET of an event stream) or Long Polling (GETs, one per poll).
        var seen = requests.ToArray();
        Assert.Equal(HttpMethod.Post, seen[0].Method);
        var streams = seen.Count(r => r.Method == HttpMethod.Get && r.Accept.Contains("text/event-stream", StringComparison.Ordinal));
        var polls = seen.Count(r => r.Method == HttpMethod.Get) - streams;
        var what = $"requests: {string.Join(", ", seen)}";
        if (serverSentEvents)
        {
            Assert.True(streams == 1 && polls == 0, $"Server-Sent Events: one event stream and no polls; {what}");
        }
        else
        {
            Assert.True(streams == 0 && polls >= 2, $"Long Polling: no event stream and more than one poll; {what}");
        }
        Assert.Equal(CollabClientState.Connected, client.State);
    }

    /// <summary>Passes every request on, recording its method and Accept header.</summary>
    private sealed class RecordingHandler(HttpMessageHandler inner, ConcurrentQueue<(HttpMethod, string)> requests) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            requests.Enqueue((request.Method, request.Headers.Accept.ToString()));
            return base.SendAsync(request, cancellationToken);
        }
    }
}
