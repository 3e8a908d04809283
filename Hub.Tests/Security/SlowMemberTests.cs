using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>
/// A member that stops reading its socket costs only itself (issue 15, item 2): no hub call waits for delivery to
/// other connections, and the stuck member is dropped once its bounded buffer is full.
/// </summary>
[Collection(AttackServerCollection.Name)]
public sealed class SlowMemberTests(AttackServerFixture fixture)
{
    /// <summary>
    /// Generous against what it guards: without the fix a call stalls for SignalR's send timeout (about 10 s); a
    /// prompt call takes milliseconds, so 4 s is never reached on a loaded machine.
    /// </summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(4);

    /// <summary>48 MB of 8 KB signals: far more than the stuck member's socket and any server buffer should hold.</summary>
    private const int MaxSignals = 6000;

    private PrivateProductionServer Server => fixture.Server;

    [Fact]
    public async Task A_member_that_stops_reading_stalls_nobody_and_is_dropped_while_the_sender_stays()
    {
        var room = TestClients.NewRoom("stuck");
        var senderId = $"sender-{Guid.NewGuid():N}";
        var stuckId = $"stuck-{Guid.NewGuid():N}";
        await using var sender = await Server.ConnectAsync(senderId);
        await sender.ResultOfAsync("Join", new { roomId = room });
        await sender.ResultOfAsync("Grant", new { roomId = room, userId = stuckId, role = "viewer" });
        await using var stuck = await StuckMember.JoinAsync(Server.WebSocketUrl(Server.Token(stuckId)), room);
        var payload = new string('s', 8000);

        // Signals until the stuck member is dropped (checked every 250), up to 48 MB: beyond any per-connection bound.
        var flood = Stopwatch.StartNew();
        var dropped = false;
        for (var i = 0; i < MaxSignals && !dropped; i++)
        {
            var signal = Stopwatch.StartNew();
            var outcome = await sender.CallAsync("Signal", new { roomId = room, payload });
            Assert.True(outcome.Kind == OutcomeKind.Result, $"Signal {i} failed: {outcome}");
            Assert.True(signal.Elapsed < Prompt, $"Signal {i} took {signal.Elapsed.TotalSeconds:0.0} s: it waited for the member that does not read");
            dropped = i % 250 == 249 && !await IsPresentAsync(sender, room, stuckId);
        }
        var set = Stopwatch.StartNew();
        await sender.ResultOfAsync("Set", new { roomId = room, key = "after", value = 1 });
        Assert.True(set.Elapsed < Prompt, $"the Set after the signals took {set.Elapsed.TotalSeconds:0.0} s");

        // The stuck member is dropped (its user leaves the presence a re-Join reports); the sender is not.
        await Eventually.HoldsAsync(
            async () => !await IsPresentAsync(sender, room, stuckId),
            () => "the stuck member to be dropped",
            TimeSpan.FromSeconds(30) - flood.Elapsed,
            TimeSpan.FromMilliseconds(500));
        Assert.False(sender.IsClosed, $"the sender was closed: {sender.CloseReason}");
        Assert.Contains("after", await sender.KeysAsync(room));
    }

    /// <summary>Whether <paramref name="userId"/> is in the presence that a re-Join of <paramref name="room"/> reports.</summary>
    private static async Task<bool> IsPresentAsync(RawSignalRSocket socket, string room, string userId) =>
        (await socket.ResultOfAsync("Join", new { roomId = room })).GetProperty("presence").EnumerateArray().Any(p => p.GetProperty("userId").GetString() == userId);

    /// <summary>
    /// A WebSocket client with a 4 KiB receive buffer (so TCP cannot absorb much on its behalf) that does the handshake,
    /// joins one room, and then never reads again.
    /// </summary>
    private sealed class StuckMember : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket;
        private readonly HttpMessageInvoker _invoker;

        private StuckMember(ClientWebSocket socket, HttpMessageInvoker invoker)
        {
            _socket = socket;
            _invoker = invoker;
        }

        public static async Task<StuckMember> JoinAsync(Uri url, string room)
        {
            var invoker = new HttpMessageInvoker(new SocketsHttpHandler
            {
                ConnectCallback = async (context, cancellationToken) =>
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = 4096 };
                    try
                    {
                        await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            });
            var webSocket = new ClientWebSocket();
            webSocket.Options.KeepAliveInterval = TimeSpan.Zero;
            var member = new StuckMember(webSocket, invoker);
            try
            {
                await webSocket.ConnectAsync(url, invoker, CancellationToken.None).Within();
                await member.SendAsync(RawSignalRSocket.Handshake);
                await member.ReadUntilAsync("{}");
                await member.SendAsync(RawSignalRSocket.Frame("join", "Join", $"[{{\"roomId\":\"{room}\"}}]"));
                await member.ReadUntilAsync("\"invocationId\":\"join\",\"result\"");
                return member;
            }
            catch
            {
                await member.DisposeAsync();
                throw;
            }
        }

        private Task SendAsync(string text) =>
            _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None).Within();

        private async Task ReadUntilAsync(string marker)
        {
            var received = new StringBuilder();
            var buffer = new byte[16 * 1024];
            while (!received.ToString().Contains(marker, StringComparison.Ordinal))
            {
                var result = await _socket.ReceiveAsync(new ArraySegment<byte>(buffer), CancellationToken.None).Within();
                Assert.True(result.MessageType != WebSocketMessageType.Close, $"the server closed before '{marker}': {received}");
                received.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            }
        }

        public ValueTask DisposeAsync()
        {
            _socket.Abort();
            _socket.Dispose();
            _invoker.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
