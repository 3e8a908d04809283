using CollabHub.Client;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.ClientSdk;

/// <summary>
/// Lost events against real servers: two Hub.Server processes share one SQLite file but no backplane, so a client of
/// one never gets the events of writes made through the other, exactly as if Redis had dropped them.
/// </summary>
public abstract class GapFillTests(ClientTransport transport)
{
    private CollabClient NewClient(Uri hubUrl, string name, Action<CollabClientOptions>? configure = null) =>
        SdkTestKit.NewClient(hubUrl, name, configure, transport);

    [Fact]
    public async Task A_client_that_missed_events_fills_the_gap_with_paged_Syncs_and_applies_every_position_once_in_order()
    {
        await using var cluster = new HubCluster();
        var near = await cluster.StartServerAsync(TestSettings.Small);
        var far = await cluster.StartServerAsync(TestSettings.Small);
        var roomId = TestClients.NewRoom();
        await using var ada = NewClient(near.HubUrl, "ada", o => o.SyncPageSize = 8);
        await ada.StartAsync().Within();
        var room = await ada.JoinAsync(roomId).Within();
        var events = new RoomEvents(room);

        // 45 writes through the other process (several Sync pages of 8 items), and ada hears of none.
        await using var bob = await TestClients.OpenConnectionAsync(far.HubUrl, "bob");
        await bob.JoinAsync(roomId).Within();
        var lastSet = -1;
        for (var i = 0; i < 45; i++)
        {
            if (i % 5 == 4)
            {
                await bob.PostAsync(roomId, $"post {i}").Within();
            }
            else if (i % 7 == 6 && lastSet >= 0)
            {
                Assert.True((await bob.DeleteAsync(roomId, $"k{lastSet}").Within()).Applied);
                lastSet = -1;
            }
            else
            {
                await bob.SetAsync(roomId, $"k{i}", i).Within();
                lastSet = i;
            }
        }
        await Task.Delay(300);
        Assert.Equal(0, room.Seq);

        // One event through ada's process shows the gap: the replica holds it, fills 1..45, then applies it.
        await using var carol = await TestClients.OpenConnectionAsync(near.HubUrl, "carol");
        await carol.JoinAsync(roomId).Within();
        var trigger = await carol.SetAsync(roomId, "trigger", true).Within();
        Assert.Equal(46, trigger.Seq);

        await SdkTestKit.WaitUntilConvergedAsync(room, carol);
        Assert.Equal(46, room.Seq);
        events.AssertGaplessAndOnce();
        Assert.Equal(46, events.Ranges.Where(r => !r.Full).Sum(r => r.To - r.From + 1));
        Assert.True(events.Ranges.Count(r => !r.Full) >= 4, $"paged: {string.Join(", ", events.Ranges)}");
        Assert.Equal(Enumerable.Range(0, 45).Where(i => i % 5 == 4).Select(i => $"post {i}"), room.Messages.Select(m => m.Body.GetString()));
        Assert.Equal(room.Messages.Select(m => m.Seq), events.Posts.Select(m => m.Seq));

        // And the writer's own writes, through the far process, reach ada's replica when she next sees an event.
        await bob.SetAsync(roomId, "late", 1).Within();
        await carol.PostAsync(roomId, "from near").Within();
        await SdkTestKit.WaitUntilConvergedAsync(room, carol);
        events.AssertGaplessAndOnce();
    }
}

/// <summary>Gap fill on a WebSocket opened without negotiation.</summary>
public sealed class GapFillOnDirectWebSocketTests() : GapFillTests(ClientTransport.DirectWebSockets);

/// <summary>Gap fill on a negotiated WebSocket.</summary>
public sealed class GapFillOnWebSocketTests() : GapFillTests(ClientTransport.WebSockets);

/// <summary>Gap fill on Server-Sent Events.</summary>
public sealed class GapFillOnServerSentEventsTests() : GapFillTests(ClientTransport.ServerSentEvents);

/// <summary>Gap fill on Long Polling.</summary>
public sealed class GapFillOnLongPollingTests() : GapFillTests(ClientTransport.LongPolling);
