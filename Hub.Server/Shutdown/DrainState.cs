using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections.Features;

namespace CollabHub.Server.Shutdown;

/// <summary>
/// Whether this instance is draining, how many hub calls are running, and the connections it holds (each with the
/// feature that closes it with a reconnect-now close message). Calls and connections are counted by
/// <see cref="DrainFilter"/>; <see cref="ConnectionDrain"/> reads the counts.
/// </summary>
internal sealed class DrainState
{
    private readonly ConcurrentDictionary<string, IConnectionLifetimeNotificationFeature?> _connections = new(StringComparer.Ordinal);
    private int _calls;
    private int _draining;

    public bool IsDraining => Volatile.Read(ref _draining) != 0;

    public int Calls => Volatile.Read(ref _calls);

    public int Connections => _connections.Count;

    /// <summary>Starts the drain; false when it had started already.</summary>
    public bool Begin() => Interlocked.Exchange(ref _draining, 1) == 0;

    /// <summary>Counts a call in, unless the drain has started (then the call must be refused).</summary>
    public bool TryEnterCall()
    {
        Interlocked.Increment(ref _calls);
        if (IsDraining)
        {
            Interlocked.Decrement(ref _calls);
            return false;
        }
        return true;
    }

    public void ExitCall() => Interlocked.Decrement(ref _calls);

    /// <summary>Adds a connection; one that arrives during the drain (it negotiated just before) is closed at once.</summary>
    public void AddConnection(string connectionId, IConnectionLifetimeNotificationFeature? lifetime)
    {
        _connections[connectionId] = lifetime;
        if (IsDraining)
        {
            lifetime?.RequestClose();
        }
    }

    public void RemoveConnection(string connectionId) => _connections.TryRemove(connectionId, out _);

    /// <summary>
    /// Asks every connection to close. SignalR then sends a close message with <c>allowReconnect: true</c> (where an
    /// abort would say the opposite) and ends the transport; the SDKs reconnect without waiting.
    /// </summary>
    public void CloseAll()
    {
        foreach (var lifetime in _connections.Values)
        {
            lifetime?.RequestClose();
        }
    }
}
