using System.Diagnostics;
using System.Threading.Channels;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Store;

/// <summary>Told of every change the moment it is committed, in commit order (so in seq order per room).</summary>
internal interface ICommitObserver
{
    /// <summary>Called on the writer's loop: must not block; hand slow work off.</summary>
    void OnCommitted(WriteCommand command, WriteOutcome outcome);
}

/// <summary>
/// Group commit: writes from all connections queue here, and one loop commits whatever has gathered (up to
/// <see cref="StoreOptions.MaxBatchSize"/>) in one transaction, so many writers share one fsync. A caller's task
/// completes only after its batch is durable (ack after commit), and observers hear of changes before callers do.
/// The queue is bounded by <see cref="StoreOptions.WriteQueueCapacity"/>: when it is full a write fails at once
/// with <see cref="StoreOverloadedException"/> instead of waiting without limit.
/// </summary>
internal sealed partial class GroupCommitWriter : BackgroundService
{
    private readonly Channel<PendingWrite> _queue;
    private readonly IRoomStore _store;
    private readonly ICommitObserver _observer;
    private readonly ILogger<GroupCommitWriter> _logger;
    private readonly CollabHubMetrics _metrics;
    private readonly int _maxBatch;
    private volatile bool _stopping;

    public GroupCommitWriter(IRoomStore store, ICommitObserver observer, IOptions<CollabHubOptions> options, ILogger<GroupCommitWriter> logger, CollabHubMetrics metrics)
    {
        _metrics = metrics;
        _store = store;
        _observer = observer;
        _logger = logger;
        _maxBatch = options.Value.Store.MaxBatchSize;
        _queue = Channel.CreateBounded<PendingWrite>(new BoundedChannelOptions(options.Value.Store.WriteQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Queues a write; the task completes once it is committed (or has failed, storing nothing).</summary>
    public Task<WriteOutcome> WriteAsync(WriteCommand command)
    {
        var pending = new PendingWrite(command);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw _stopping ? new StoreUnavailableException("the server is shutting down") : new StoreOverloadedException();
        }
        return pending.Completion.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<PendingWrite>(_maxBatch);
        var commands = new List<WriteCommand>(_maxBatch);
        // Runs until the queue is completed and drained: writes accepted before shutdown are still committed.
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < _maxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
                commands.Add(pending.Command);
            }
            await CommitAsync(batch, commands);
            batch.Clear();
            commands.Clear();
        }
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        _queue.Writer.TryComplete();
        return base.StopAsync(cancellationToken);
    }

    private async Task CommitAsync(List<PendingWrite> batch, List<WriteCommand> commands)
    {
        using var activity = CollabHubActivities.StartCommit(batch, static pending => pending.Caller);
        var started = Stopwatch.GetTimestamp();
        WriteOutcome[] outcomes;
        try
        {
            outcomes = await _store.CommitAsync(commands, CancellationToken.None);
            _metrics.Committed(batch.Count, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception ex) when (batch.Count > 1 && ex is not CommitOutcomeUnknownException)
        {
            // Nothing was stored, and one bad write must not fail the others: commit them one by one to find it.
            LogBatchFailed(ex, batch.Count);
            foreach (var pending in batch)
            {
                await CommitAsync([pending], [pending.Command]);
            }
            return;
        }
        catch (Exception ex)
        {
            // A single write, or a batch whose commit may have been applied (running it again could apply it twice).
            if (ex is not MutationReusedException)
            {
                LogWriteFailed(ex, batch[0].Command.RoomId);
            }
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            foreach (var pending in batch)
            {
                _metrics.WriteFailed(pending.Command.Kind);
                pending.Completion.TrySetException(ex);
            }
            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            if (outcomes[i].IsNewChange)
            {
                try
                {
                    _observer.OnCommitted(commands[i], outcomes[i]);
                }
                catch (Exception ex)
                {
                    LogObserverFailed(ex, commands[i].RoomId);
                }
            }
        }
        for (var i = 0; i < batch.Count; i++)
        {
            _metrics.WriteCompleted(commands[i].Kind, outcomes[i]);
            batch[i].Completion.TrySetResult(outcomes[i]);
        }
    }

    private sealed class PendingWrite(WriteCommand command)
    {
        public WriteCommand Command { get; } = command;
        /// <summary>
        /// Completed on the writer's loop, and its continuations run there, inline: the rest of the hub call, up to
        /// handing the answer to the connection's output, which never blocks (a full output makes it await). One
        /// thread answering a batch in order costs far less than a thread-pool item per write, all contending for the
        /// same connection's output; callers that go on to slow work (<see cref="Rooms.ConnectionCallOrder"/>) yield first.
        /// </summary>
        public TaskCompletionSource<WriteOutcome> Completion { get; } = new();

        /// <summary>The span of the hub call that queued it (default when not traced): the commit's span links to it.</summary>
        public ActivityContext Caller { get; } = Activity.Current?.Context ?? default;
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "A batch of {Count} writes failed; committing them one by one")]
    private partial void LogBatchFailed(Exception exception, int count);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error, Message = "A write to room {RoomId} failed (not applied, or with an unknown outcome when the commit itself broke)")]
    private partial void LogWriteFailed(Exception exception, string roomId);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Error, Message = "Broadcasting a committed change of room {RoomId} failed")]
    private partial void LogObserverFailed(Exception exception, string roomId);
}

/// <summary>The write queue is full.</summary>
internal sealed class StoreOverloadedException()
    : CollabException(ErrorCodes.Overloaded, "the server's write queue is full; retry shortly");

/// <summary>The store cannot take writes now; nothing was applied.</summary>
internal sealed class StoreUnavailableException(string reason) : CollabException(ErrorCodes.Unavailable, $"{reason}; nothing was applied");
