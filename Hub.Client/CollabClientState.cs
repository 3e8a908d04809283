namespace CollabHub.Client;

/// <summary>Where a <see cref="CollabClient"/>'s connection stands; see <see cref="CollabClient.State"/>.</summary>
public enum CollabClientState
{
    /// <summary>Not started, stopped by the app, or the retry policy gave up (<see cref="CollabClientOptions.ReconnectMaxAttempts"/>).</summary>
    Disconnected,

    /// <summary>The first connection attempt after a start is under way.</summary>
    Connecting,

    /// <summary>
    /// The connection is up (as the JS SDK's <c>connected</c>): rooms are being joined or are joined (each room's
    /// <see cref="CollabRoom.IsSynced"/>), and queued writes are being sent.
    /// </summary>
    Connected,

    /// <summary>The connection dropped, or an attempt failed, and the client is trying again after a backoff.</summary>
    Reconnecting,
}

/// <summary>A change of <see cref="CollabClient.State"/>, or a failed attempt while reconnecting (<paramref name="Previous"/> = <paramref name="Current"/>).</summary>
/// <param name="Previous">The state before.</param>
/// <param name="Current">The state now.</param>
/// <param name="Error">What caused it, when an error did: the lost connection's or the failed attempt's error.</param>
public sealed record CollabStateChange(CollabClientState Previous, CollabClientState Current, Exception? Error);
