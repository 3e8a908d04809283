using System.Collections.Concurrent;

namespace CollabHub.Server.Backplane;

/// <summary>
/// Waits for acknowledgements of group commands sent to other instances. An ack that does not come within the
/// timeout fails the wait with a <see cref="TimeoutException"/> that says what was not acknowledged.
/// </summary>
internal sealed class AckHandler(TimeSpan timeout)
{
    private readonly ConcurrentDictionary<long, TaskCompletionSource> _pending = new();
    private long _nextId;

    public (long Id, Task Acked) Create(string what)
    {
        var id = Interlocked.Increment(ref _nextId);
        var ack = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = ack;
        return (id, WaitAsync(id, ack.Task, what));
    }

    public void Acknowledge(long id)
    {
        if (_pending.TryRemove(id, out var ack))
        {
            ack.TrySetResult();
        }
    }

    private async Task WaitAsync(long id, Task acked, string what)
    {
        try
        {
            await acked.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"{what} was not acknowledged within {timeout.TotalSeconds:0.#} s: no instance holds that connection, or the backplane is down.");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }
}
