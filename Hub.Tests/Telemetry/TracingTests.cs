using CollabHub.Protocol;
using System.Collections.Concurrent;
using System.Diagnostics;
using CollabHub.Server.Configuration;
using CollabHub.Server.Store;
using CollabHub.Server.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CollabHub.Tests.Telemetry;

/// <summary>The <c>CollabHub</c> activity source around the group-commit writer (docs/operations.md, "Traces").</summary>
public sealed class TracingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_commit_span_links_to_each_call_it_commits_and_the_broadcasts_run_under_it()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CollabHubActivities.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var observer = new BroadcastingObserver();
        var writer = new GroupCommitWriter(new PostStore(), observer, Options.Create(new CollabHubOptions()), NullLogger<GroupCommitWriter>.Instance, TestMetrics.Create());
        var room = $"traced-{Guid.NewGuid():N}";
        List<ActivityTraceId> calls = [];
        List<Task<WriteOutcome>> writes = [];
        // Three hub calls queue their writes before the writer starts, so one commit carries them all.
        for (var i = 0; i < 3; i++)
        {
            using var call = CollabHubActivities.StartHubCall("Post", $"connection-{i}", room)!;
            calls.Add(call.TraceId);
            writes.Add(writer.WriteAsync(new WriteCommand(WriteKind.Post, room, "ada", null, $"{i}", null, null)));
        }

        await writer.StartAsync(CancellationToken.None);
        try
        {
            await Task.WhenAll(writes).WaitAsync(Timeout);
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        }

        var commit = stopped.Single(a => a.OperationName == "commit" && a.Links.Any(link => calls.Contains(link.Context.TraceId)));
        Assert.Equal(calls.Select(id => id.ToHexString()).Order(), commit.Links.Select(link => link.Context.TraceId.ToHexString()).Order());
        Assert.Equal(3, commit.GetTagItem("collabhub.commit.batch.size"));
        var broadcasts = stopped.Where(a => a.OperationName == "broadcast" && Equals(a.GetTagItem("collabhub.room"), room)).ToList();
        Assert.Equal(3, broadcasts.Count);
        Assert.All(broadcasts, broadcast => Assert.Equal(commit.SpanId, broadcast.ParentSpanId));
        // The calls' own traces are not the commit's: a commit is shared, so it links rather than nests.
        Assert.DoesNotContain(commit.TraceId, calls);
    }

    /// <summary>Stores every write as a new post.</summary>
    private sealed class PostStore : IRoomStore
    {
        private long _seq;

        public Task<WriteOutcome[]> CommitAsync(IReadOnlyList<WriteCommand> writes, CancellationToken cancellationToken) =>
            Task.FromResult(writes.Select(_ =>
            {
                var seq = Interlocked.Increment(ref _seq);
                return new WriteOutcome(null, new CollabHub.Protocol.PostResult(seq, new(seq, "id", default, "ada", DateTimeOffset.UnixEpoch), false));
            }).ToArray());

        public Task<RoomPage> ReadAsync(RoomRead read, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<PurgeResult> PurgeAsync(DateTimeOffset tombstonesBefore, DateTimeOffset mutationsBefore, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<int> PurgeMessagesAsync(MessageRetention retention, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    /// <summary>Starts a broadcast span per change, as RoomBroadcaster does.</summary>
    private sealed class BroadcastingObserver : ICommitObserver
    {
        public void OnCommitted(WriteCommand command, WriteOutcome outcome)
        {
            using var broadcast = CollabHubActivities.StartBroadcast(command.RoomId);
        }
    }
}
