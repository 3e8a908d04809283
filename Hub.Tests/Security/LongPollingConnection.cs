using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>
/// A SignalR connection over Long Polling made by hand (<c>GET</c> polls, <c>POST</c> sends), so a test can also send
/// any request on any connection id with any bearer token.
/// </summary>
internal sealed class LongPollingConnection
{
    private readonly Uri _hubUrl;
    private readonly string _bearer;
    private readonly List<string> _records = [];
    private readonly StringBuilder _partial = new();
    private int _nextId;

    private LongPollingConnection(Uri hubUrl, string bearer, Negotiation negotiation)
    {
        _hubUrl = hubUrl;
        _bearer = bearer;
        Negotiation = negotiation;
    }

    public Negotiation Negotiation { get; }

    /// <summary>Every record received so far, as text.</summary>
    public IReadOnlyList<string> Records => _records;

    /// <summary>Negotiates with <paramref name="bearer"/>, makes the first poll, and completes the handshake.</summary>
    public static async Task<LongPollingConnection> StartAsync(Uri hubUrl, string bearer)
    {
        var negotiation = await Negotiation.PostAsync(hubUrl, bearer);
        Assert.True(negotiation.Status == 200 && negotiation.ConnectionToken is not null, $"negotiate failed: {negotiation.Status} {negotiation.Body}");
        var connection = new LongPollingConnection(hubUrl, bearer, negotiation);
        // The first poll only starts the transport, and comes back empty.
        using (var first = await Request(hubUrl, HttpMethod.Get, negotiation.TransportId, bearer))
        {
            Assert.Equal(200, (int)first.StatusCode);
        }
        using (var handshake = await Request(hubUrl, HttpMethod.Post, negotiation.TransportId, bearer, RawSignalRSocket.Handshake))
        {
            Assert.Equal(200, (int)handshake.StatusCode);
        }
        await connection.PollUntilAsync(records => records.Count > 0, "the handshake answer");
        Assert.Equal("{}", connection._records[0]);
        return connection;
    }

    /// <summary>Sends an invocation of <paramref name="method"/> and polls until its completion comes.</summary>
    public async Task<JsonElement> InvokeAsync(string method, object request)
    {
        var id = $"lp{Interlocked.Increment(ref _nextId)}";
        await SendAsync(RawSignalRSocket.Frame(id, method, $"[{JsonSerializer.Serialize(request)}]"));
        var records = await PollUntilAsync(all => all.Any(r => IsCompletionOf(r, id)), $"the completion of {method}");
        return JsonDocument.Parse(records.Single(r => IsCompletionOf(r, id))).RootElement.Clone();
    }

    /// <summary>Sends a frame on this connection without waiting for anything.</summary>
    public async Task SendAsync(string frame)
    {
        using var response = await Request(_hubUrl, HttpMethod.Post, Negotiation.TransportId, _bearer, frame);
        Assert.Equal(200, (int)response.StatusCode);
    }

    /// <summary>Polls until <paramref name="done"/> holds over the records received (each poll answers as soon as there is data).</summary>
    public async Task<IReadOnlyList<string>> PollUntilAsync(Func<IReadOnlyList<string>, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TestClients.Timeout;
        while (!done(_records))
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out polling for {what}; got: {string.Join(" | ", _records)}");
            using var poll = await Request(_hubUrl, HttpMethod.Get, Negotiation.TransportId, _bearer);
            Assert.True((int)poll.StatusCode == 200, $"a poll of the connection's own user got {(int)poll.StatusCode}");
            Take(await poll.Content.ReadAsStringAsync().Within());
        }
        return _records;
    }

    private void Take(string text)
    {
        _partial.Append(text);
        var all = _partial.ToString();
        var end = all.LastIndexOf(RawSignalRSocket.RecordSeparator);
        if (end < 0)
        {
            return;
        }
        _records.AddRange(all[..end].Split(RawSignalRSocket.RecordSeparator));
        _partial.Clear().Append(all[(end + 1)..]);
    }

    private static bool IsCompletionOf(string record, string id) =>
        record.Contains("\"type\":3", StringComparison.Ordinal) && record.Contains($"\"invocationId\":\"{id}\"", StringComparison.Ordinal);

    /// <summary>
    /// One transport request on connection <paramref name="id"/> with <paramref name="bearer"/>: a poll (GET), a send
    /// (POST with <paramref name="body"/>), or with <paramref name="accept"/> <c>text/event-stream</c> an SSE stream.
    /// Answers once the headers are in (a poll or a stream may go on after).
    /// </summary>
    public static Task<HttpResponseMessage> Request(Uri hubUrl, HttpMethod method, string id, string bearer, string? body = null, string? accept = null)
    {
        var request = new HttpRequestMessage(method, new UriBuilder(hubUrl) { Query = "id=" + Uri.EscapeDataString(id) }.Uri);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (accept is not null)
        {
            request.Headers.Accept.ParseAdd(accept);
        }
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "text/plain");
        }
        return SecurityClients.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).Within();
    }
}
