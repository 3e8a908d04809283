using System.Net;
using System.Net.Sockets;

namespace CollabHub.Bench.Processes;

internal static class Loopback
{
    /// <summary>A port free on 127.0.0.1 right now (another process may take it before it is used: callers retry).</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
