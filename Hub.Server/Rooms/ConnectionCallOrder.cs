namespace CollabHub.Server.Rooms;

/// <summary>
/// The order of one connection's calls, now that SignalR may run several of them at once
/// (<c>CollabHub:Hub:MaxParallelInvocationsPerClient</c>). Writes are handed to the group-commit writer as they
/// arrive, before any await, so they commit in the order they were sent and share commits with each other. Every
/// other call that depends on state (Join, Leave, Sync, Grant, GetAccess) runs one at a time, in arrival order,
/// and only after the writes sent before it have committed: a Sync sees the connection's own earlier writes.
/// </summary>
internal sealed class ConnectionCallOrder
{
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private Task _lastWrite = Task.CompletedTask;

    /// <summary>Records a write just queued for commit (called in arrival order, before the call's first await).</summary>
    public void WriteQueued(Task commit) => Volatile.Write(ref _lastWrite, commit);

    /// <summary>
    /// Runs <paramref name="call"/> after the calls before it of its kind and after every write that arrived before
    /// it: the writes are taken now, synchronously, so writes that arrive later do not hold it up.
    /// </summary>
    public async Task<T> AfterEarlierCallsAsync<T>(Func<Task<T>> call)
    {
        // A write of this connection commits only after its earlier ones (the writer keeps queue order), so
        // waiting for the last is waiting for all. Whether it failed does not matter here. A write completes on the
        // group-commit writer's loop, so the call goes on elsewhere rather than holding up the next commit.
        var earlierWrites = Volatile.Read(ref _lastWrite);
        await _oneAtATime.WaitAsync();
        try
        {
            await earlierWrites.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ForceYielding);
            return await call();
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc cref="AfterEarlierCallsAsync{T}(Func{Task{T}})"/>
    public Task AfterEarlierCallsAsync(Func<Task> call) => AfterEarlierCallsAsync(async () =>
    {
        await call();
        return true;
    });
}
