using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Tests.ScaleOut;

/// <summary>A hub that exposes every SignalR addressing form, to test a lifetime manager with.</summary>
public sealed class AddressingHub : Hub
{
    public string WhoAmI() => Context.ConnectionId;

    public Task ToAll(string text) => Clients.All.SendAsync("Got", text);

    public Task ToAllExcept(string[] excluded, string text) => Clients.AllExcept(excluded).SendAsync("Got", text);

    public Task ToClient(string connectionId, string text) => Clients.Client(connectionId).SendAsync("Got", text);

    public Task ToClients(string[] connectionIds, string text) => Clients.Clients(connectionIds).SendAsync("Got", text);

    public Task ToGroup(string group, string text) => Clients.Group(group).SendAsync("Got", text);

    public Task ToGroups(string[] groups, string text) => Clients.Groups(groups).SendAsync("Got", text);

    public Task ToGroupExcept(string group, string[] excluded, string text) => Clients.GroupExcept(group, excluded).SendAsync("Got", text);

    public Task ToOthersInGroup(string group, string text) => Clients.OthersInGroup(group).SendAsync("Got", text);

    public Task ToUser(string user, string text) => Clients.User(user).SendAsync("Got", text);

    public Task ToUsers(string[] users, string text) => Clients.Users(users).SendAsync("Got", text);

    public Task AddToGroup(string connectionId, string group) => Groups.AddToGroupAsync(connectionId, group);

    public Task RemoveFromGroup(string connectionId, string group) => Groups.RemoveFromGroupAsync(connectionId, group);
}

/// <summary>The user of a test connection is its <c>?user=</c>.</summary>
internal sealed class QueryUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection) =>
        connection.GetHttpContext()?.Request.Query["user"].ToString() is { Length: > 0 } user ? user : null;
}
