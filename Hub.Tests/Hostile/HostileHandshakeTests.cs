using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests.Hostile;

/// <summary>
/// Hostile clients before the hub protocol starts: bad identities, bad or missing handshakes. Each gets a refusal or
/// a closed connection, never a hang or a crash. (A class of its own, with its own server, so that the wait for the
/// handshake timeout runs beside the other hostile tests.)
/// </summary>
public sealed class HostileHandshakeTests(HostileServer server, ITestOutputHelper output) : IClassFixture<HostileServer>
{
    /// <summary>SignalR's HubOptions.HandshakeTimeout default; the server has no setting for it.</summary>
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_connection_that_never_sends_its_handshake_is_closed_by_the_server_after_the_handshake_timeout()
    {
        // Two at once: one sends nothing at all, the other half a handshake and then nothing.
        var clock = Stopwatch.StartNew();
        await using var silent = await server.RawAsync("silent", handshake: false);
        await using var half = await server.RawAsync("half", handshake: false);
        await half.SendTextAsync("{\"protocol\":\"json\",");

        var silentClosed = await silent.SocketClosed.WaitAsync(HandshakeTimeout + TimeSpan.FromSeconds(10));
        var silentAfter = clock.Elapsed;
        var halfClosed = await half.SocketClosed.WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"silent: closed after {silentAfter.TotalSeconds:0.0} s ({silentClosed}); handshake answer: {await silent.HandshakeAnswer.Within()}");
        output.WriteLine($"half a handshake: closed after {clock.Elapsed.TotalSeconds:0.0} s ({halfClosed}); handshake answer: {await half.HandshakeAnswer.Within()}");
        Assert.True(silentAfter >= HandshakeTimeout - TimeSpan.FromSeconds(2), $"closed after {silentAfter}, before the handshake timeout: something else closed it");

        await AssertServesOthersAsync();
    }

    [Fact]
    public async Task A_handshake_that_never_ends_is_cut_off_by_a_closed_connection()
    {
        await using var raw = await server.RawAsync("endless-handshake", handshake: false);
        await raw.SendTextAsync("{\"protocol\":\"json\",\"version\":1,\"junk\":\"");
        var chunk = Encoding.UTF8.GetBytes(new string('j', 4096));
        var sent = 0L;
        var clock = Stopwatch.StartNew();
        while (!raw.IsClosed && sent < 64L * 1024 * 1024 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                await raw.SendAsync(chunk);
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
            {
                break;
            }
            sent += chunk.Length;
            // Sends into a socket buffer complete at once: let the receive loop see the server's close.
            await Task.Yield();
        }
        var reason = await raw.WaitClosedAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"closed after {sent:N0} bytes, {clock.Elapsed.TotalMilliseconds:0} ms: {reason}; handshake answer: {await raw.HandshakeAnswer.Within()}");
        Assert.True(clock.Elapsed < HandshakeTimeout, "only the handshake timeout stopped an endless handshake, not its size");
        await raw.SocketClosed.Within();

        await AssertServesOthersAsync();
    }

    [Theory]
    [InlineData("an unknown protocol", "{\"protocol\":\"messagepack\",\"version\":1}\u001e")]
    [InlineData("an unsupported version", "{\"protocol\":\"json\",\"version\":99}\u001e")]
    [InlineData("no protocol", "{\"version\":1}\u001e")]
    [InlineData("a protocol that is a number", "{\"protocol\":1,\"version\":1}\u001e")]
    [InlineData("not JSON", "hello\u001e")]
    [InlineData("a JSON array", "[1]\u001e")]
    [InlineData("an invocation instead of a handshake", "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Set\",\"arguments\":[{\"roomId\":\"r\",\"key\":\"k\",\"value\":1}]}\u001e")]
    [InlineData("an empty record", "\u001e")]
    public async Task A_bad_handshake_is_refused_and_the_connection_closed(string what, string handshake)
    {
        await using var raw = await server.RawAsync("bad-handshake", handshake: false);
        await raw.SendTextAsync(handshake);

        // SignalR answers some with {"error":...} and closes at once on others; never with {} (accepted).
        var answer = await raw.HandshakeAnswer.Within();
        var closed = await raw.SocketClosed.Within();
        output.WriteLine($"{what}: answer {answer}; {closed}");
        Assert.NotEqual("{}", answer);

        await AssertServesOthersAsync();
    }

    [Fact]
    public async Task A_handshake_followed_by_garbage_in_the_same_message_gets_the_handshake_answer_then_a_closed_connection()
    {
        await using var raw = await server.RawAsync("handshake-garbage", handshake: false);
        await raw.SendTextAsync(RawSignalRSocket.Handshake + "garbage" + RawSignalRSocket.RecordSeparator);

        Assert.Equal("{}", await raw.HandshakeAnswer.Within());
        output.WriteLine(await raw.SocketClosed.Within());

        await AssertServesOthersAsync();
    }

    [Theory]
    [InlineData("empty", "")]
    [InlineData("white space", "%20%20")]
    [InlineData("a control character", "ada%01")]
    [InlineData("NUL", "%00")]
    [InlineData("65 characters", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("a second name with a control character", "ada&name=bob%01")]
    public async Task A_bad_name_gets_401_and_never_a_server_error(string what, string escapedName)
    {
        var (status, error) = await TryConnectAsync(escapedName);
        output.WriteLine($"{what}: HTTP {(int)status}: {error}");
        Assert.Equal(HttpStatusCode.Unauthorized, status);

        await AssertServesOthersAsync();
    }

    [Theory]
    [InlineData("invalid UTF-8", "%FF%FE")]
    [InlineData("an encoded lone surrogate", "%ED%A0%80")]
    [InlineData("a truncated escape", "ada%E2%82")]
    [InlineData("a bad escape", "ada%zz")]
    public async Task A_name_that_does_not_decode_is_refused_or_taken_as_printable_text_never_a_server_error(string what, string escapedName)
    {
        // ASP.NET Core decodes the query with U+FFFD for bytes that are not UTF-8, so such a name may be accepted as
        // that (printable) text; what matters is no 5xx and a server that goes on.
        var (status, error) = await TryConnectAsync(escapedName);
        output.WriteLine($"{what}: HTTP {(int)status}: {error ?? "connected"}");
        Assert.Contains(status, new[] { HttpStatusCode.SwitchingProtocols, HttpStatusCode.Unauthorized });

        await AssertServesOthersAsync();
    }

    private async Task<(HttpStatusCode Status, string? Error)> TryConnectAsync(string escapedName)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        var url = new Uri($"ws://{server.HubUrl.Authority}{server.HubUrl.AbsolutePath}?name={escapedName}");
        try
        {
            await socket.ConnectAsync(url, CancellationToken.None).Within();
            socket.Abort();
            return (socket.HttpStatusCode, null);
        }
        catch (WebSocketException ex)
        {
            return (socket.HttpStatusCode, ex.Message);
        }
    }

    private async Task AssertServesOthersAsync()
    {
        var room = TestClients.NewRoom("after");
        await using var peer = await server.PeerAsync("after");
        await peer.JoinAsync(room);
        Assert.True((await peer.SetAsync(room, "k", System.Text.Json.JsonSerializer.SerializeToElement(1))).Applied);
        Assert.Equal(1, (await peer.SyncAsync(room, 0)).Seq);
        await server.AssertAliveAsync();
        Assert.Empty(server.FailureLines());
    }
}
