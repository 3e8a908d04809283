using System.ComponentModel.DataAnnotations;

namespace CollabHub.Server.Configuration;

/// <summary>
/// How an instance leaves a cluster on SIGTERM (<c>CollabHub:Shutdown:*</c>): it refuses new connections, lets the
/// calls it already received finish, closes its connections with a close message that tells clients to reconnect at
/// once (to another instance), then stops. docs/operations.md ("Rolling restarts") walks through it.
/// </summary>
public sealed class ShutdownOptions
{
    /// <summary>
    /// The longest the whole shutdown may take, from the signal to the exit. The drain (calls, then connections) gets
    /// three quarters of it, the host's own stop (hosted services, Kestrel: <c>HostOptions.ShutdownTimeout</c>) the
    /// rest. Default 10 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The part of <see cref="DrainTimeout"/> left for the host's stop once the drain is over.</summary>
    public TimeSpan HostStopTimeout => DrainTimeout / 4;

    /// <summary>The part of <see cref="DrainTimeout"/> the drain itself may take.</summary>
    public TimeSpan DrainPhaseTimeout => DrainTimeout - HostStopTimeout;
}
