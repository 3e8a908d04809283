using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace CollabHub.Bench.Driver;

/// <summary>
/// A TCP relay on a free loopback port in front of a server, which can cut every connection through it at once (a
/// reset on both sides), as a proxy restart or a network cut would. It keeps accepting: clients can come back at once.
/// </summary>
internal sealed class CutProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly ConcurrentDictionary<Socket, byte> _sockets = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public CutProxy(Uri upstream)
    {
        _upstream = new IPEndPoint(IPAddress.Loopback, upstream.Port);
        _listener.Start(backlog: 4096);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary><paramref name="url"/> with its port replaced by the proxy's.</summary>
    public Uri Front(Uri url) => new UriBuilder(url) { Port = Port }.Uri;

    /// <summary>Resets every connection through the proxy.</summary>
    public int CutAll()
    {
        var cut = 0;
        foreach (var socket in _sockets.Keys)
        {
            if (_sockets.TryRemove(socket, out _))
            {
                Reset(socket);
                cut++;
            }
        }
        return cut / 2;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await server.ConnectAsync(_upstream, _stop.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            Reset(client);
            server.Dispose();
            return;
        }
        _sockets[client] = 0;
        _sockets[server] = 0;
        await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        // One side ended: end the other too, as a proxy does.
        _sockets.TryRemove(client, out _);
        _sockets.TryRemove(server, out _);
        Reset(client);
        Reset(server);
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        CutAll();
        await _accepting;
        _stop.Dispose();
    }
}
