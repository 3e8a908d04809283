using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Access;

/// <summary>Private rooms: owners, editors, viewers, grants and revocations, on one instance and across two.</summary>
public sealed class RoomAccessTests : IAsyncLifetime
{
    private static readonly JsonElement One = JsonSerializer.SerializeToElement(1);

    private readonly HubCluster _cluster = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    private Task<HubServerProcess> StartServerAsync(string? redis = null, string backplaneProvider = "CollabHub")
    {
        var settings = new Dictionary<string, string>(TestSettings.Small) { ["CollabHub:Rooms:DefaultAccess"] = "Private" };
        if (redis is not null)
        {
            settings["CollabHub:Redis"] = redis;
            settings["CollabHub:RedisPrefix"] = "access-test";
            settings["CollabHub:Backplane:Provider"] = backplaneProvider;
        }
        return _cluster.StartServerAsync(settings);
    }

    private async Task<RawHubClient> ConnectAsync(HubServerProcess server, string name) => _cluster.Track(await RawHubClient.ConnectAsync(server.HubUrl, name));

    [Fact]
    public async Task The_first_user_to_join_a_private_room_owns_it_and_others_need_a_grant()
    {
        var server = await StartServerAsync();
        var ada = await ConnectAsync(server, "ada");
        var bob = await ConnectAsync(server, "bob");
        var room = TestClients.NewRoom();

        var owned = await ada.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        Assert.Equal(RoomRoles.Owner, owned.Role);
        Assert.Equal(ErrorCodes.Forbidden, await bob.ErrorOfAsync(HubMethods.Join, new JoinRequest(room)));
        Assert.Equal(ErrorCodes.NotJoined, await bob.ErrorOfAsync(HubMethods.Set, new SetRequest(room, "k", One)));

        await ada.InvokeAsync(HubMethods.Grant, new GrantRequest(room, "bob", RoomRoles.Editor));
        var joined = await bob.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        Assert.Equal(RoomRoles.Editor, joined.Role);
        Assert.True((await bob.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "k", One))).Applied);

        var access = await ada.InvokeAsync<RoomAccess>(HubMethods.GetAccess, new GetAccessRequest(room));
        Assert.Equal("private", access.DefaultAccess);
        Assert.Equal([("ada", RoomRoles.Owner), ("bob", RoomRoles.Editor)], access.Members.Select(m => (m.UserId, m.Role)));
        Assert.Equal(ErrorCodes.Forbidden, await bob.ErrorOfAsync(HubMethods.GetAccess, new GetAccessRequest(room)));
        Assert.Equal(ErrorCodes.Forbidden, await bob.ErrorOfAsync(HubMethods.Grant, new GrantRequest(room, "eve", RoomRoles.Owner)));
        Assert.Equal(ErrorCodes.InvalidArgument, await ada.ErrorOfAsync(HubMethods.Grant, new GrantRequest(room, "bob", "admin")));
        Assert.Equal(ErrorCodes.InvalidArgument, await ada.ErrorOfAsync(HubMethods.Grant, new GrantRequest(room, "ada", RoomRoles.Viewer)));
    }

    [Fact]
    public async Task A_viewer_may_join_and_sync_but_not_write_post_or_signal()
    {
        var server = await StartServerAsync();
        var ada = await ConnectAsync(server, "ada");
        var vic = await ConnectAsync(server, "vic");
        var room = TestClients.NewRoom();
        await ada.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        await ada.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "k", One));
        await ada.InvokeAsync(HubMethods.Grant, new GrantRequest(room, "vic", RoomRoles.Viewer));

        var joined = await vic.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));

        Assert.Equal(RoomRoles.Viewer, joined.Role);
        Assert.Single(joined.Entries);
        Assert.Equal(1, (await vic.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(room, 0))).Seq);
        Assert.Equal(ErrorCodes.Forbidden, await vic.ErrorOfAsync(HubMethods.Set, new SetRequest(room, "k", One)));
        Assert.Equal(ErrorCodes.Forbidden, await vic.ErrorOfAsync(HubMethods.Delete, new DeleteRequest(room, "k")));
        Assert.Equal(ErrorCodes.Forbidden, await vic.ErrorOfAsync(HubMethods.Post, new PostRequest(room, One)));
        Assert.Equal(ErrorCodes.Forbidden, await vic.ErrorOfAsync(HubMethods.Signal, new SignalRequest(room, One)));
        Assert.Equal(1, (await ada.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(room, 0))).Seq);

        // Promoted while joined: the connection may write at once.
        await ada.InvokeAsync(HubMethods.Grant, new GrantRequest(room, "vic", RoomRoles.Editor));
        await vic.WaitForAsync(e => e.Event == HubEvents.AccessChanged && ((AccessChange)e.Payload).Role == RoomRoles.Editor, "the promotion");
        Assert.True((await vic.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "k", One))).Applied);
    }

    /// <summary>The notice goes over the cluster bus, which works the same under both backplane providers.</summary>
    [Theory]
    [InlineData("CollabHub")]
    [InlineData("SignalR")]
    public async Task A_revoked_user_leaves_the_room_at_once_on_another_instance_too(string backplaneProvider)
    {
        var redis = await _cluster.StartRedisAsync();
        var first = await StartServerAsync(redis.ConnectionString, backplaneProvider);
        var second = await StartServerAsync(redis.ConnectionString, backplaneProvider);
        var ada = await ConnectAsync(first, "ada");
        var bobHere = await ConnectAsync(first, "bob");
        var bobThere = await ConnectAsync(second, "bob");
        var room = TestClients.NewRoom();
        await ada.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        await ada.InvokeAsync(HubMethods.Grant, new GrantRequest(room, "bob", RoomRoles.Editor));
        await bobHere.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        await bobThere.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));

        await ada.InvokeAsync(HubMethods.Grant, new GrantRequest(room, "bob", RoomRoles.None));

        foreach (var bob in new[] { bobHere, bobThere })
        {
            await bob.WaitForAsync(e => e.Event == HubEvents.AccessChanged && ((AccessChange)e.Payload).Role == RoomRoles.None, "the revocation");
            Assert.Equal(ErrorCodes.NotJoined, await bob.ErrorOfAsync(HubMethods.Set, new SetRequest(room, "k", One)));
            Assert.Equal(ErrorCodes.Forbidden, await bob.ErrorOfAsync(HubMethods.Join, new JoinRequest(room)));
        }
        var changed = await ada.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "after", One));
        await ada.WaitForAsync(e => e.Event == HubEvents.PresenceDelta && ((PresenceDelta)e.Payload) is { Removed: ["bob"], Count: 1 }, "bob leaving presence");
        // A fence in a room bob is still in shows he got nothing of the revoked one after the revocation.
        var fence = TestClients.NewRoom();
        await bobThere.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(fence));
        await bobThere.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(fence, "fence", One));
        await bobThere.WaitForAsync(e => e.RoomId == fence && e.Event == HubEvents.Changed, "the fence");
        Assert.DoesNotContain(bobThere.Events, e => e.Event == HubEvents.Changed && ((Entry)e.Payload).Version == changed.Seq && e.RoomId == room);
    }
}
