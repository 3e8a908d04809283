using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Access;

/// <summary>Limits from configuration: each breach has its own code, engages, and releases.</summary>
public sealed class LimitsTests : IAsyncLifetime
{
    private static readonly JsonElement One = JsonSerializer.SerializeToElement(1);

    private readonly HubCluster _cluster = new();
    private HubServerProcess _server = null!;

    public async Task InitializeAsync()
    {
        _server = await _cluster.StartServerAsync(new Dictionary<string, string>(TestSettings.Small)
        {
            ["CollabHub:Limits:Rates:WritesPerSecond"] = "5",
            ["CollabHub:Limits:Rates:WriteBurst"] = "5",
            ["CollabHub:Limits:Rates:UserWritesPerSecond"] = "1000",
            ["CollabHub:Limits:Rates:UserWriteBurst"] = "1000",
            ["CollabHub:Limits:Rates:SignalsPerSecond"] = "5",
            ["CollabHub:Limits:Rates:SignalBurst"] = "5",
            ["CollabHub:Limits:MaxConnectionsPerUser"] = "2",
            ["CollabHub:Limits:MaxKeysPerRoom"] = "3",
        });
    }

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    private async Task<RawHubClient> ConnectAsync(string name) => _cluster.Track(await RawHubClient.ConnectAsync(_server.HubUrl, name));

    [Fact]
    public async Task A_flooding_connection_is_rate_limited_then_released_while_others_go_on()
    {
        var flood = await ConnectAsync("flood");
        var calm = await ConnectAsync("calm");
        var room = TestClients.NewRoom();
        await flood.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        await calm.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));

        var codes = new List<string?>();
        for (var i = 0; i < 20; i++)
        {
            try
            {
                await flood.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "k", One));
                codes.Add(null);
            }
            catch (Microsoft.AspNetCore.SignalR.HubException ex)
            {
                codes.Add(ErrorCodes.Parse(ex.Message));
            }
        }
        var signalCodes = new List<string?>();
        for (var i = 0; i < 20; i++)
        {
            try
            {
                await flood.InvokeAsync(HubMethods.Signal, new SignalRequest(room, One));
                signalCodes.Add(null);
            }
            catch (Microsoft.AspNetCore.SignalR.HubException ex)
            {
                signalCodes.Add(ErrorCodes.Parse(ex.Message));
            }
        }

        Assert.Contains(ErrorCodes.RateLimited, codes);
        Assert.Contains(null, codes);
        Assert.Contains(ErrorCodes.RateLimited, signalCodes);
        Assert.True((await calm.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "calm", One))).Applied);

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.True((await flood.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "k", One))).Applied);
        var sync = await calm.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(room, 0));
        Assert.Equal(codes.Count(c => c is null) + 2, sync.Seq);
    }

    [Fact]
    public async Task A_user_over_the_connection_limit_is_refused_with_too_many_connections()
    {
        await ConnectAsync("many");
        await ConnectAsync("many");

        var third = await ConnectAsync("many");
        var error = await third.ClosedWith.Task.Within();

        Assert.Contains(ErrorCodes.TooManyConnections, error?.Message);
        var other = await ConnectAsync("someone-else");
        Assert.Equal(0, (await other.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(TestClients.NewRoom()))).Seq);
    }

    [Fact]
    public async Task A_room_over_its_key_limit_refuses_new_keys_with_too_many_keys_until_one_is_deleted()
    {
        var ada = await ConnectAsync("keys");
        var room = TestClients.NewRoom();
        await ada.InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(room));
        for (var i = 0; i < 3; i++)
        {
            await ada.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, $"k{i}", One));
            await Task.Delay(250);
        }

        Assert.Equal(ErrorCodes.TooManyKeys, await ada.ErrorOfAsync(HubMethods.Set, new SetRequest(room, "k3", One, MutationId: "m-k3")));
        Assert.True((await ada.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "k0", One))).Applied);
        await Task.Delay(250);
        await ada.InvokeAsync<WriteResult>(HubMethods.Delete, new DeleteRequest(room, "k1"));
        await Task.Delay(250);
        // The refused mutation was not recorded: the same id applies now that there is room.
        Assert.True((await ada.InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(room, "k3", One, MutationId: "m-k3"))).Applied);
        Assert.Equal(6, (await ada.InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(room, 0))).Seq);
    }
}
