using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Store;
using CollabHub.Tests.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CollabHub.Tests;

/// <summary>The group-commit writer over a store that fails on purpose.</summary>
public sealed class GroupCommitWriterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_batch_whose_commit_may_have_been_applied_is_failed_whole_and_not_run_again_write_by_write()
    {
        var store = new FailingStore(new CommitOutcomeUnknownException(new IOException("connection reset")));
        var writer = new GroupCommitWriter(store, new NoObserver(), Options.Create(new CollabHubOptions()), NullLogger<GroupCommitWriter>.Instance, TestMetrics.Create());
        // Queued before the writer starts, so they form one batch.
        var writes = Enumerable.Range(0, 3)
            .Select(i => writer.WriteAsync(new WriteCommand(WriteKind.Post, "r", "ada", null, $"{i}", null, null)))
            .ToArray();

        await writer.StartAsync(CancellationToken.None);
        try
        {
            foreach (var write in writes)
            {
                await Assert.ThrowsAsync<CommitOutcomeUnknownException>(() => write.WaitAsync(Timeout));
            }
            Assert.Equal([3], store.Calls);
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task A_batch_that_was_rolled_back_is_run_again_write_by_write_so_one_bad_write_fails_alone()
    {
        var store = new FailingStore(new MutationReusedException("m1"), failOnlyBatches: true);
        var writer = new GroupCommitWriter(store, new NoObserver(), Options.Create(new CollabHubOptions()), NullLogger<GroupCommitWriter>.Instance, TestMetrics.Create());
        var writes = Enumerable.Range(0, 3)
            .Select(i => writer.WriteAsync(new WriteCommand(WriteKind.Post, "r", "ada", null, $"{i}", null, null)))
            .ToArray();

        await writer.StartAsync(CancellationToken.None);
        try
        {
            await Task.WhenAll(writes).WaitAsync(Timeout);
            Assert.Equal([3, 1, 1, 1], store.Calls);
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None).WaitAsync(Timeout);
        }
    }

    /// <summary>Throws for every batch (or only for batches of more than one), and records the batch sizes.</summary>
    private sealed class FailingStore(Exception failure, bool failOnlyBatches = false) : IRoomStore
    {
        public List<int> Calls { get; } = [];

        public Task<WriteOutcome[]> CommitAsync(IReadOnlyList<WriteCommand> writes, CancellationToken cancellationToken)
        {
            lock (Calls)
            {
                Calls.Add(writes.Count);
            }
            if (failOnlyBatches && writes.Count == 1)
            {
                var post = new CollabHub.Protocol.PostResult(1, new(1, "id", default, "ada", DateTimeOffset.UnixEpoch), false);
                return Task.FromResult(new[] { new WriteOutcome(null, post) });
            }
            return Task.FromException<WriteOutcome[]>(failure);
        }

        public Task<RoomPage> ReadAsync(RoomRead read, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<PurgeResult> PurgeAsync(DateTimeOffset tombstonesBefore, DateTimeOffset mutationsBefore, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<int> PurgeMessagesAsync(MessageRetention retention, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    private sealed class NoObserver : ICommitObserver
    {
        public void OnCommitted(WriteCommand command, WriteOutcome outcome)
        {
        }
    }
}
