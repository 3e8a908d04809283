using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Tests.ScaleOut;

/// <summary>
/// What every backplane must do, whatever carries it: each SignalR addressing form reaches exactly its targets.
/// Run against the in-process backplane (one instance) and the Redis one (two instances, clients spread over
/// both, senders on the other instance than most receivers). A fence message sent to everyone after each case
/// shows that nothing else is still on its way.
/// </summary>
public abstract class AddressingSpecification : IAsyncLifetime
{
    private HubInstance _first = null!;
    private HubInstance _second = null!;

    private protected HubInstance First => _first;
    private readonly List<TestConnection> _connections = [];

    /// <summary>Starts the two instances; the in-process variant returns the same one twice.</summary>
    private protected abstract Task<(HubInstance First, HubInstance Second)> StartInstancesAsync();

    private protected abstract Task StopInstancesAsync();

    public async Task InitializeAsync() => (_first, _second) = await StartInstancesAsync();

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
        await StopInstancesAsync();
    }

    private async Task<(TestConnection Sender, TestConnection Ada, TestConnection Bob, TestConnection Eve)> ConnectAsync()
    {
        var sender = await _first.ConnectAsync("sender");
        var ada = await _second.ConnectAsync("ada");
        var bob = await _second.ConnectAsync("bob");
        var eve = await _first.ConnectAsync("eve");
        _connections.AddRange([sender, ada, bob, eve]);
        return (sender, ada, bob, eve);
    }

    /// <summary>
    /// Sends a fence through the all channel and through each connection's own channel, and waits for both
    /// everywhere. A backplane keeps order within a channel, not across channels (Redis delivers each
    /// subscription's messages through its own queue), so one fence on one channel proves nothing about another.
    /// </summary>
    private static async Task FenceAsync(TestConnection sender, params TestConnection[] all)
    {
        var fence = $"fence-{Guid.NewGuid():N}";
        await sender.InvokeAsync(nameof(AddressingHub.ToAll), fence);
        await sender.InvokeAsync(nameof(AddressingHub.ToClients), all.Select(c => c.Id).Distinct().ToArray(), fence + "-direct");
        foreach (var connection in all)
        {
            await connection.WaitForAsync(fence);
            await connection.WaitForAsync(fence + "-direct");
        }
    }

    /// <summary>Waits for <paramref name="text"/> at each expected connection (it may come on another channel than the fences), then checks it came once and nowhere else.</summary>
    private static async Task AssertGotAsync(string text, TestConnection[] expected, TestConnection[] notExpected)
    {
        foreach (var connection in expected)
        {
            await connection.WaitForAsync(text);
        }
        Assert.All(expected, c => Assert.Single(c.Received, text));
        Assert.All(notExpected, c => Assert.DoesNotContain(text, c.Received));
    }

    [Fact]
    public async Task All_and_AllExcept_reach_every_instance_but_the_excluded()
    {
        var (sender, ada, bob, eve) = await ConnectAsync();

        await sender.InvokeAsync(nameof(AddressingHub.ToAll), "all");
        await sender.InvokeAsync(nameof(AddressingHub.ToAllExcept), new[] { bob.Id, eve.Id }, "except");
        await FenceAsync(sender, sender, ada, bob, eve);

        await AssertGotAsync("all", [sender, ada, bob, eve], []);
        await AssertGotAsync("except", [sender, ada], [bob, eve]);
    }

    [Fact]
    public async Task Client_and_Clients_reach_connections_on_any_instance()
    {
        var (sender, ada, bob, eve) = await ConnectAsync();

        await sender.InvokeAsync(nameof(AddressingHub.ToClient), ada.Id, "one");
        await sender.InvokeAsync(nameof(AddressingHub.ToClients), new[] { bob.Id, eve.Id }, "some");
        await FenceAsync(sender, sender, ada, bob, eve);

        await AssertGotAsync("one", [ada], [sender, bob, eve]);
        await AssertGotAsync("some", [bob, eve], [sender, ada]);
    }

    [Fact]
    public async Task Group_Groups_GroupExcept_and_OthersInGroup_reach_members_on_any_instance()
    {
        var (sender, ada, bob, eve) = await ConnectAsync();
        var red = $"red-{Guid.NewGuid():N}";
        var blue = $"blue-{Guid.NewGuid():N}";
        await ada.InvokeAsync(nameof(AddressingHub.AddToGroup), ada.Id, red);
        await eve.InvokeAsync(nameof(AddressingHub.AddToGroup), eve.Id, red);
        await sender.InvokeAsync(nameof(AddressingHub.AddToGroup), sender.Id, red);
        await bob.InvokeAsync(nameof(AddressingHub.AddToGroup), bob.Id, blue);

        await sender.InvokeAsync(nameof(AddressingHub.ToGroup), red, "red");
        await sender.InvokeAsync(nameof(AddressingHub.ToGroups), new[] { red, blue }, "both");
        await sender.InvokeAsync(nameof(AddressingHub.ToGroupExcept), red, new[] { ada.Id }, "red-but-ada");
        await sender.InvokeAsync(nameof(AddressingHub.ToOthersInGroup), red, "others");
        await FenceAsync(sender, sender, ada, bob, eve);

        await AssertGotAsync("red", [sender, ada, eve], [bob]);
        await AssertGotAsync("both", [sender, ada, bob, eve], []);
        await AssertGotAsync("red-but-ada", [sender, eve], [ada, bob]);
        await AssertGotAsync("others", [ada, eve], [sender, bob]);
    }

    [Fact]
    public async Task User_and_Users_reach_every_connection_of_the_user_on_any_instance()
    {
        var (sender, ada, bob, eve) = await ConnectAsync();
        var adaOnFirst = await _first.ConnectAsync("ada");
        _connections.Add(adaOnFirst);

        await sender.InvokeAsync(nameof(AddressingHub.ToUser), "ada", "to-ada");
        await sender.InvokeAsync(nameof(AddressingHub.ToUsers), new[] { "bob", "eve" }, "to-users");
        await FenceAsync(sender, sender, ada, bob, eve, adaOnFirst);

        await AssertGotAsync("to-ada", [ada, adaOnFirst], [sender, bob, eve]);
        await AssertGotAsync("to-users", [bob, eve], [sender, ada, adaOnFirst]);
    }

    [Fact]
    public async Task A_connection_on_another_instance_can_be_added_to_and_removed_from_a_group()
    {
        var (sender, ada, bob, eve) = await ConnectAsync();
        var group = $"g-{Guid.NewGuid():N}";

        await sender.InvokeAsync(nameof(AddressingHub.AddToGroup), ada.Id, group);
        await sender.InvokeAsync(nameof(AddressingHub.ToGroup), group, "in");
        await ada.WaitForAsync("in");
        await sender.InvokeAsync(nameof(AddressingHub.RemoveFromGroup), ada.Id, group);
        await sender.InvokeAsync(nameof(AddressingHub.ToGroup), group, "out");
        await FenceAsync(sender, sender, ada, bob, eve);

        await AssertGotAsync("in", [ada], [sender, bob, eve]);
        await AssertGotAsync("out", [], [sender, ada, bob, eve]);
    }

    [Fact]
    public async Task IHubContext_outside_a_hub_reaches_clients_on_every_instance()
    {
        var (sender, ada, bob, eve) = await ConnectAsync();
        var group = $"g-{Guid.NewGuid():N}";
        await _second.Context.Groups.AddToGroupAsync(bob.Id, group);

        await _first.Context.Clients.All.SendAsync("Got", "ctx-all");
        await _first.Context.Clients.Group(group).SendAsync("Got", "ctx-group");
        await _first.Context.Clients.User("ada").SendAsync("Got", "ctx-user");
        await _first.Context.Clients.Client(eve.Id).SendAsync("Got", "ctx-client");
        await FenceAsync(sender, sender, ada, bob, eve);

        await AssertGotAsync("ctx-all", [sender, ada, bob, eve], []);
        await AssertGotAsync("ctx-group", [bob], [sender, ada, eve]);
        await AssertGotAsync("ctx-user", [ada], [sender, bob, eve]);
        await AssertGotAsync("ctx-client", [eve], [sender, ada, bob]);
    }
}
