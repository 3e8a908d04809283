using System.Collections.Concurrent;
using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary>What a handler attached right after <see cref="CollabClient.JoinAsync"/> returns sees (docs/protocol.md, "The two SDKs side by side").</summary>
public sealed class JoinEventsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task A_Changed_handler_attached_when_JoinAsync_returns_sees_only_later_changes_every_time()
    {
        await using var writer = await fixture.ConnectAsync("bob");
        await using var client = SdkTestKit.NewClient(fixture.Server.HubUrl, "ada");
        // A handler on the client keeps the notifier busy while the joins' events are raised, as an app's would.
        client.Changed += (_, _) => Thread.SpinWait(2000);
        await client.StartAsync().Within();

        for (var run = 0; run < 20; run++)
        {
            var roomId = TestClients.NewRoom();
            await writer.JoinAsync(roomId).Within();
            await writer.BatchAsync(roomId, [.. Enumerable.Range(0, 20).Select(i => BatchOp.SetOp($"k{i}", JsonSerializer.SerializeToElement(i)))]).Within();

            var room = await client.JoinAsync(roomId).Within();
            var seen = new ConcurrentQueue<(string Key, ChangeOrigin Origin)>();
            room.Changed += change => seen.Enqueue((change.Key, change.Origin));
            Assert.Equal(20, room.Entries.Count);

            await writer.SetAsync(roomId, "later", run).Within();
            await SdkTestKit.WaitUntilAsync(() => !seen.IsEmpty, $"run {run}: the later change");
            await Task.Delay(20);
            Assert.Equal([("later", ChangeOrigin.Remote)], seen);
            await room.LeaveAsync().Within();
            await writer.LeaveAsync(roomId).Within();
        }
    }
}
