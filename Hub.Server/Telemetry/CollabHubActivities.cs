using System.Diagnostics;

namespace CollabHub.Server.Telemetry;

/// <summary>
/// The <c>CollabHub</c> activity source: a span per hub call, per group commit (linked to the calls whose writes it
/// commits) and per broadcast of a committed change. <see cref="ActivitySource.StartActivity(string, ActivityKind)"/>
/// returns null, allocating nothing, while no listener samples the source.
/// </summary>
internal static class CollabHubActivities
{
    public const string SourceName = "CollabHub";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>A hub call: its span is named after the method (a fixed set), with the room as a tag when it has one.</summary>
    public static Activity? StartHubCall(string method, string connectionId, string? roomId)
    {
        var activity = Source.StartActivity(method, ActivityKind.Server);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("rpc.system", "signalr");
            activity.SetTag("rpc.method", method);
            activity.SetTag("signalr.connection.id", connectionId);
            if (roomId is not null)
            {
                activity.SetTag("collabhub.room", roomId);
            }
        }
        return activity;
    }

    /// <summary>A group commit, linked to each call whose write it carries (those that were sampled).</summary>
    /// <remarks>Pass a static lambda as <paramref name="callerOf"/>: nothing is allocated while no listener is there.</remarks>
    public static Activity? StartCommit<T>(List<T> batch, Func<T, ActivityContext> callerOf)
    {
        if (!Source.HasListeners())
        {
            return null;
        }
        List<ActivityLink>? links = null;
        foreach (var write in batch)
        {
            var caller = callerOf(write);
            if (caller.TraceId != default)
            {
                (links ??= []).Add(new ActivityLink(caller));
            }
        }
        var activity = Source.StartActivity(ActivityKind.Internal, parentContext: default, links: links, name: "commit");
        activity?.SetTag("collabhub.commit.batch.size", batch.Count);
        return activity;
    }

    /// <summary>The fan-out of one committed change to its room, under the commit's span.</summary>
    public static Activity? StartBroadcast(string roomId)
    {
        var activity = Source.StartActivity("broadcast", ActivityKind.Producer);
        activity?.SetTag("collabhub.room", roomId);
        return activity;
    }
}
