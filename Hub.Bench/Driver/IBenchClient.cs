namespace CollabHub.Bench.Driver;

/// <summary>
/// One connection of the load driver to a system under test, with the calls every system offers in the same shape:
/// join a room, set a key and wait for the acknowledgement, hear of changes. SignalR and Socket.IO each have one.
/// </summary>
internal interface IBenchClient : IAsyncDisposable
{
    /// <summary>Called for every change event, on the client's receive path: keep it short.</summary>
    Action<ChangedEvent>? Changed { set; }

    /// <summary>Called with the size in bytes of every presence event (CollabHub only; others have none).</summary>
    Action<int>? Presence { set; }

    /// <summary>Raised when the connection closes without <see cref="DisposeAsync"/>.</summary>
    event Action<Exception?>? Closed;

    Task ConnectAsync(CancellationToken cancellationToken);

    Task<JoinAnswer> JoinAsync(string roomId, long? sinceSeq, CancellationToken cancellationToken);

    /// <summary>Sets <paramref name="key"/> and returns the seq the acknowledgement carries.</summary>
    Task<long> SetAsync(string roomId, string key, BenchValue value);
}
