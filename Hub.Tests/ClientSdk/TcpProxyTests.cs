using System.Net;
using System.Net.Sockets;
using System.Text;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary>The test proxy itself, against a loopback echo server: forwarding, cutting, blocking and holding answers.</summary>
public sealed class TcpProxyTests : IAsyncLifetime
{
    private readonly TcpListener _echo = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private Task _serving = Task.CompletedTask;
    private int _echoConnections;

    private IPEndPoint Echo => (IPEndPoint)_echo.LocalEndpoint;

    public Task InitializeAsync()
    {
        _echo.Start();
        _serving = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _echo.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception)
                {
                    return;
                }
                Interlocked.Increment(ref _echoConnections);
                _ = Task.Run(async () =>
                {
                    using var _ = socket;
                    var buffer = new byte[4096];
                    try
                    {
                        int read;
                        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
                        {
                            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                        }
                    }
                    catch (Exception)
                    {
                        // A reset ends the echo.
                    }
                });
            }
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _stop.Cancel();
        _echo.Stop();
        await _serving.WaitAsync(TestClients.Timeout);
        _stop.Dispose();
    }

    private static async Task<Socket> ConnectAsync(TcpProxy proxy)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, proxy.Port).WaitAsync(TestClients.Timeout);
        return socket;
    }

    /// <summary>Connects through the proxy and sends: a refused connection fails in the connect or in the round trip.</summary>
    private static async Task ConnectAndRoundTripAsync(TcpProxy proxy, string text)
    {
        using var socket = await ConnectAsync(proxy);
        await RoundTripAsync(socket, text);
    }

    private static async Task<string> RoundTripAsync(Socket socket, string text)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), SocketFlags.None).WaitAsync(TestClients.Timeout);
        return await ReadAsync(socket, text.Length);
    }

    private static async Task<string> ReadAsync(Socket socket, int length)
    {
        var buffer = new byte[length];
        var got = 0;
        while (got < length)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(TestClients.Timeout);
            if (read == 0)
            {
                throw new IOException("closed");
            }
            got += read;
        }
        return Encoding.UTF8.GetString(buffer);
    }

    [Fact]
    public async Task The_proxy_forwards_both_ways_and_CutAllAsync_resets_every_open_connection()
    {
        await using var proxy = TcpProxy.Start(Echo);
        using var first = await ConnectAsync(proxy);
        using var second = await ConnectAsync(proxy);

        Assert.Equal("hello", await RoundTripAsync(first, "hello"));
        Assert.Equal("world", await RoundTripAsync(second, "world"));
        Assert.Equal(2, proxy.Open);

        await proxy.CutAllAsync().Within();

        Assert.Equal(0, proxy.Open);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await RoundTripAsync(first, "still there?");
            }
        });
        using var third = await ConnectAsync(proxy);
        Assert.Equal("again", await RoundTripAsync(third, "again"));
    }

    [Fact]
    public async Task A_blocked_proxy_refuses_or_holds_new_connections_and_leaves_open_ones_alone()
    {
        await using var proxy = TcpProxy.Start(Echo);
        using var open = await ConnectAsync(proxy);
        Assert.Equal("before", await RoundTripAsync(open, "before"));

        proxy.Block();
        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAndRoundTripAsync(proxy, "nobody"));
        Assert.Equal("during", await RoundTripAsync(open, "during"));

        proxy.Block(ProxyBlockMode.Hold);
        using var held = await ConnectAsync(proxy);
        await held.SendAsync(Encoding.UTF8.GetBytes("waiting"), SocketFlags.None).WaitAsync(TestClients.Timeout);
        var answer = ReadAsync(held, "waiting".Length);
        await Task.Delay(200);
        Assert.False(answer.IsCompleted);

        proxy.Unblock();
        Assert.Equal("waiting", await answer);
        Assert.Equal(3, proxy.Accepted);
        Assert.Equal(2, Volatile.Read(ref _echoConnections)); // the refused one never reached the target
    }

    [Fact]
    public async Task HoldDownstream_lets_requests_through_and_holds_the_answers_until_they_are_released_or_cut()
    {
        await using var proxy = TcpProxy.Start(Echo);
        using var socket = await ConnectAsync(proxy);
        Assert.Equal("warm", await RoundTripAsync(socket, "warm"));

        proxy.HoldDownstream();
        await socket.SendAsync(Encoding.UTF8.GetBytes("held"), SocketFlags.None).WaitAsync(TestClients.Timeout);
        var answer = ReadAsync(socket, 4);
        await Task.Delay(200);
        Assert.False(answer.IsCompleted);
        proxy.ReleaseDownstream();
        Assert.Equal("held", await answer);

        proxy.HoldDownstream();
        await socket.SendAsync(Encoding.UTF8.GetBytes("lost"), SocketFlags.None).WaitAsync(TestClients.Timeout);
        var lost = ReadAsync(socket, 4);
        await Task.Delay(200);
        await proxy.CutAllAsync().Within();
        proxy.ReleaseDownstream();
        await Assert.ThrowsAnyAsync<Exception>(() => lost);
    }

    [Fact]
    public async Task Retarget_sends_new_connections_to_the_new_target_and_a_dead_target_looks_refused()
    {
        var dead = new TcpListener(IPAddress.Loopback, 0);
        dead.Start();
        var deadEndPoint = (IPEndPoint)dead.LocalEndpoint;
        dead.Stop();
        await using var proxy = TcpProxy.Start(deadEndPoint);

        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAndRoundTripAsync(proxy, "anyone?"));

        proxy.Retarget(Echo);
        using var served = await ConnectAsync(proxy);
        Assert.Equal("here", await RoundTripAsync(served, "here"));
    }
}
