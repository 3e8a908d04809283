using System.Diagnostics;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Access;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Xunit.Abstractions;

namespace CollabHub.Tests.Pipelining;

/// <summary>
/// One connection's writes fired without waiting for answers (the stock SignalR client, as a burst or an SDK draining
/// its queue sends them): they share commits yet commit in the order they were sent, refusals in between included,
/// and a read sent after them sees them.
/// </summary>
public sealed class PipelinedWriteTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Burst = 2000;
    private const int WriteBucket = 1500;
    private const int KeysPerRoom = 50;
    private const int PageItems = 100;

    private readonly HubCluster _cluster = new();
    private HubServerProcess _server = null!;

    public async Task InitializeAsync()
    {
        _server = await _cluster.StartServerAsync(new Dictionary<string, string>
        {
            ["CollabHub:Limits:MaxPageItems"] = PageItems.ToString(),
            // The bucket holds most of the burst and hardly refills during it: the writes after it are refused.
            ["CollabHub:Limits:Rates:WritesPerSecond"] = "1",
            ["CollabHub:Limits:Rates:WriteBurst"] = WriteBucket.ToString(),
            ["CollabHub:Limits:Rates:UserWritesPerSecond"] = "1",
            ["CollabHub:Limits:Rates:UserWriteBurst"] = WriteBucket.ToString(),
            ["CollabHub:Limits:MaxKeysPerRoom"] = KeysPerRoom.ToString(),
        });
    }

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    [Fact]
    public async Task Writes_fired_without_waiting_commit_in_send_order_through_refusals_and_a_read_after_them_sees_them()
    {
        var client = _cluster.Track(await RawHubClient.ConnectAsync(_server.HubUrl, "burst"));
        var room = TestClients.NewRoom();
        await client.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));

        // Every key gets a write at the start (the room is then full), then: a key that is not valid (refused by the
        // hub as it arrives), a new key (refused by the store at commit: too_many_keys), and the writes past the
        // rate limit's bucket (refused by the filter). A Sync fired last must see every applied write.
        const int invalidAt = 700, newKeyAt = 900;
        var calls = new Task<WriteResult>[Burst];
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Burst; i++)
        {
            var key = i switch
            {
                invalidAt => "bad\u0001key",
                newKeyAt => "one-key-too-many",
                _ => $"k{i % KeysPerRoom}",
            };
            calls[i] = client.Connection.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, key, JsonSerializer.SerializeToElement(i)));
        }
        var sync = client.Connection.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(room, 0, PageItems));
        var applied = new List<(int Index, WriteResult Result)>();
        var refusals = new Dictionary<int, string?>();
        for (var i = 0; i < Burst; i++)
        {
            try
            {
                applied.Add((i, await calls[i].Within()));
            }
            catch (HubException ex)
            {
                refusals[i] = ErrorCodes.Parse(ex.Message);
            }
        }
        var elapsed = watch.Elapsed;
        output.WriteLine($"{Burst} Sets fired without waiting: {applied.Count} applied, {refusals.Count} refused, in {elapsed.TotalMilliseconds:0} ms");

        Assert.Equal(ErrorCodes.InvalidKey, refusals[invalidAt]);
        Assert.Equal(ErrorCodes.TooManyKeys, refusals[newKeyAt]);
        Assert.Contains(refusals.Values, code => code == ErrorCodes.RateLimited);
        Assert.All(refusals.Where(r => r.Key is not invalidAt and not newKeyAt), r => Assert.Equal(ErrorCodes.RateLimited, r.Value));
        Assert.All(applied, a => Assert.True(a.Result.Applied));
        // Send order is commit order: the seqs of the applied writes rise with their index, one by one.
        for (var i = 1; i < applied.Count; i++)
        {
            Assert.True(applied[i].Result.Seq == applied[i - 1].Result.Seq + 1,
                $"write #{applied[i].Index} took seq {applied[i].Result.Seq}, after #{applied[i - 1].Index} took {applied[i - 1].Result.Seq}");
        }

        // The Sync was sent after the writes, so it ran after they committed: it ends at the last one.
        var page = await sync.Within();
        Assert.Equal(applied[^1].Result.Seq, page.Seq);
        var stored = await client.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(room, 0, PageItems));
        var lastApplied = applied.GroupBy(a => a.Result.Entry!.Key).ToDictionary(g => g.Key, g => g.Last().Index);
        Assert.Equal(KeysPerRoom, stored.Entries.Count);
        Assert.All(stored.Entries, e => Assert.Equal(lastApplied[e.Key], e.Value!.Value.GetInt32()));
    }

    [Fact]
    public async Task A_sync_sent_right_after_a_join_waits_for_it_instead_of_failing_not_joined()
    {
        var client = _cluster.Track(await RawHubClient.ConnectAsync(_server.HubUrl, "eager"));
        var room = TestClients.NewRoom();

        var join = client.Connection.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        var sync = client.Connection.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(room, 0));

        await join.Within();
        Assert.Equal(0, (await sync.Within()).Seq);
    }
}
