using Microsoft.Extensions.Logging;

namespace CollabHub.Client.Internal;

/// <summary>
/// Raises a client's app events one at a time, in the order they were posted, and never under a lock: state changes
/// post under their lock, and whoever posted calls <see cref="Drain"/> after letting go of every lock. A handler that
/// throws is logged and the rest still run.
/// </summary>
internal sealed class Notifier(ILogger logger)
{
    private readonly object _gate = new();
    private readonly Queue<Action> _pending = new();
    private bool _draining;

    /// <summary>Queues an event; safe under any lock.</summary>
    public void Post(Action raise)
    {
        lock (_gate)
        {
            _pending.Enqueue(raise);
        }
    }

    /// <summary>Raises the queued events, unless another thread is already doing so (it then raises these too).</summary>
    public void Drain()
    {
        lock (_gate)
        {
            if (_draining || _pending.Count == 0)
            {
                return;
            }
            _draining = true;
        }
        while (true)
        {
            Action next;
            lock (_gate)
            {
                if (_pending.Count == 0)
                {
                    _draining = false;
                    return;
                }
                next = _pending.Dequeue();
            }
            try
            {
                next();
            }
            catch (Exception ex)
            {
                Log.EventHandlerFailed(logger, ex);
            }
        }
    }
}
