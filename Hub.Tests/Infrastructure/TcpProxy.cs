using System.Net;
using System.Net.Sockets;

namespace CollabHub.Tests.Infrastructure;

/// <summary>What a blocked <see cref="TcpProxy"/> does with new connections.</summary>
internal enum ProxyBlockMode
{
    /// <summary>Accept and reset at once: the client's connect fails, as with a server that is down.</summary>
    Refuse,

    /// <summary>Accept and hold, forwarding nothing, until <see cref="TcpProxy.Unblock"/>: the client's connect hangs.</summary>
    Hold,
}

/// <summary>
/// A TCP proxy on a free loopback port that forwards every connection to a target, for tests that need to break the
/// network under a client: <see cref="CutAllAsync"/> resets every open connection (both sides see a reset),
/// <see cref="Block"/> refuses or holds new ones, <see cref="HoldDownstream"/> stops the target's bytes from reaching
/// the clients (so a request arrives and its answer does not), and <see cref="Retarget"/> points new connections
/// elsewhere. Disposing it closes everything it opened.
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _acceptLoop;
    private readonly object _gate = new();
    private readonly HashSet<Link> _links = [];
    private readonly List<Socket> _held = [];
    private readonly IPAddress? _source;
    private IPEndPoint _target;
    private ProxyBlockMode? _blocked;
    private TaskCompletionSource _downstream = Released();
    private int _accepted;

    private TcpProxy(IPEndPoint target, IPAddress? source)
    {
        _target = target;
        _source = source;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(backlog: 128);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The loopback port clients connect to.</summary>
    public int Port { get; }

    /// <summary>How many connections the proxy has accepted so far, refused and held ones included.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>How many connections are forwarded now.</summary>
    public int Open
    {
        get
        {
            lock (_gate)
            {
                return _links.Count;
            }
        }
    }

    /// <summary>Starts a proxy to <paramref name="target"/>.</summary>
    public static TcpProxy Start(IPEndPoint target) => new(target, source: null);

    /// <summary>
    /// Starts a proxy to the host and port of <paramref name="target"/> (a loopback http URL). With
    /// <paramref name="source"/> (a loopback address such as 127.0.0.2), the target sees its connections come from
    /// there: one client address per proxy, for a load balancer that is sticky by address.
    /// </summary>
    public static TcpProxy Start(Uri target, IPAddress? source = null) => new(new IPEndPoint(IPAddress.Parse(target.Host), target.Port), source);

    /// <summary><paramref name="url"/> with its host and port replaced by the proxy's.</summary>
    public Uri Url(Uri url) => new UriBuilder(url) { Host = IPAddress.Loopback.ToString(), Port = Port }.Uri;

    /// <summary>New connections go to <paramref name="target"/> from now on; open ones stay where they are.</summary>
    public void Retarget(IPEndPoint target)
    {
        lock (_gate)
        {
            _target = target;
        }
    }

    /// <summary>Refuses (or holds) new connections until <see cref="Unblock"/>; open ones are not touched.</summary>
    public void Block(ProxyBlockMode mode = ProxyBlockMode.Refuse)
    {
        lock (_gate)
        {
            _blocked = mode;
        }
    }

    /// <summary>Takes new connections again, and starts forwarding the held ones.</summary>
    public void Unblock()
    {
        List<Socket> held;
        lock (_gate)
        {
            _blocked = null;
            held = [.. _held];
            _held.Clear();
        }
        foreach (var client in held)
        {
            _ = ForwardAsync(client);
        }
    }

    /// <summary>Stops forwarding the target's bytes to the clients (requests still go through), on open and new connections.</summary>
    public void HoldDownstream()
    {
        lock (_gate)
        {
            if (_downstream.Task.IsCompleted)
            {
                _downstream = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Forwards the target's bytes again, those held back first.</summary>
    public void ReleaseDownstream()
    {
        lock (_gate)
        {
            _downstream.TrySetResult();
        }
    }

    /// <summary>
    /// Resets every open and held connection at once (an RST to both sides, as when a network path dies); bytes held by
    /// <see cref="HoldDownstream"/> are dropped. New connections are taken as before (see <see cref="Block"/>).
    /// </summary>
    public Task CutAllAsync()
    {
        List<Link> links;
        List<Socket> held;
        lock (_gate)
        {
            links = [.. _links];
            _links.Clear();
            held = [.. _held];
            _held.Clear();
        }
        foreach (var link in links)
        {
            link.Abort();
        }
        foreach (var socket in held)
        {
            Reset(socket);
        }
        return Task.WhenAll(links.Select(link => link.Done));
    }

    public async ValueTask DisposeAsync()
    {
        _closing.Cancel();
        _listener.Stop();
        ReleaseDownstream();
        await CutAllAsync().WaitAsync(TimeSpan.FromSeconds(10));
        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        _closing.Dispose();
    }

    private static TaskCompletionSource Released()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_closing.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_closing.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            client.NoDelay = true;
            ProxyBlockMode? blocked;
            lock (_gate)
            {
                blocked = _blocked;
                if (blocked == ProxyBlockMode.Hold)
                {
                    _held.Add(client);
                }
            }
            if (blocked == ProxyBlockMode.Refuse)
            {
                Reset(client);
            }
            else if (blocked is null)
            {
                _ = ForwardAsync(client);
            }
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        IPEndPoint target;
        lock (_gate)
        {
            target = _target;
        }
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (_source is not null)
            {
                server.Bind(new IPEndPoint(_source, 0));
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await server.ConnectAsync(target, timeout.Token);
        }
        catch (Exception)
        {
            // The target is down: the client sees the same as a refused connect.
            Reset(client);
            server.Dispose();
            return;
        }
        var link = new Link(this, client, server);
        lock (_gate)
        {
            if (_closing.IsCancellationRequested)
            {
                link.Abort();
                return;
            }
            _links.Add(link);
        }
        link.Start();
    }

    private Task DownstreamGate()
    {
        lock (_gate)
        {
            return _downstream.Task;
        }
    }

    private void Forget(Link link)
    {
        lock (_gate)
        {
            _links.Remove(link);
        }
    }

    /// <summary>Closes a socket with an RST (linger 0) instead of a FIN.</summary>
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

    /// <summary>One forwarded connection: a client socket, a target socket, and a pump each way.</summary>
    private sealed class Link(TcpProxy proxy, Socket client, Socket server)
    {
        private readonly CancellationTokenSource _abort = new();
        private int _aborted;

        public Task Done { get; private set; } = Task.CompletedTask;

        public void Start() => Done = Task.WhenAll(
            PumpAsync(client, server, downstream: false),
            PumpAsync(server, client, downstream: true)).ContinueWith(_ => Abort(), TaskScheduler.Default);

        /// <summary>Resets both sides; idempotent.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 1)
            {
                return;
            }
            _abort.Cancel();
            Reset(client);
            Reset(server);
            proxy.Forget(this);
        }

        private async Task PumpAsync(Socket from, Socket to, bool downstream)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var read = await from.ReceiveAsync(buffer, SocketFlags.None, _abort.Token);
                    if (read == 0)
                    {
                        // A clean close on one side: pass the FIN on, and let the other direction finish.
                        to.Shutdown(SocketShutdown.Send);
                        return;
                    }
                    if (downstream)
                    {
                        await proxy.DownstreamGate().WaitAsync(_abort.Token);
                    }
                    var sent = 0;
                    while (sent < read)
                    {
                        sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, _abort.Token);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // A reset or an abort on either side ends the whole link.
                Abort();
            }
        }
    }
}
