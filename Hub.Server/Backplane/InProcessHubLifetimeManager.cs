using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace CollabHub.Server.Backplane;

/// <summary>
/// The backplane of a single instance (no <c>CollabHub:Redis</c>): every send goes to this instance's connections
/// through <see cref="LocalConnections"/>, so a slow reader holds up nobody and falls behind only so far (see
/// <see cref="ConnectionOutbox"/>). In place of SignalR's DefaultHubLifetimeManager, whose sends wait for every
/// recipient. Sends complete when the writes are started, not when they are delivered.
/// </summary>
internal sealed class InProcessHubLifetimeManager<THub> : HubLifetimeManager<THub> where THub : Hub
{
    private readonly LocalConnections _local;

    public InProcessHubLifetimeManager(ConnectionOutbox outbox) =>
        _local = new LocalConnections(outbox, NoChannels(), NoChannels());

    private static LocalMembers NoChannels() => new(static _ => Task.CompletedTask, static _ => { });

    public override Task OnConnectedAsync(HubConnectionContext connection) => _local.AddAsync(connection);

    public override Task OnDisconnectedAsync(HubConnectionContext connection) => _local.RemoveAsync(connection);

    public override Task SendAllAsync(string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendAllExceptAsync(methodName, args, [], cancellationToken);

    public override Task SendAllExceptAsync(string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        _local.SendAll(Serialize(methodName, args), excludedConnectionIds);
        return Task.CompletedTask;
    }

    public override Task SendConnectionAsync(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendConnectionsAsync([connectionId], methodName, args, cancellationToken);

    public override Task SendConnectionsAsync(IReadOnlyList<string> connectionIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        foreach (var connectionId in connectionIds)
        {
            if (_local[connectionId] is { } connection)
            {
                _local.Send(connection, message);
            }
        }
        return Task.CompletedTask;
    }

    public override Task SendGroupAsync(string groupName, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendGroupExceptAsync(groupName, methodName, args, [], cancellationToken);

    public override Task SendGroupExceptAsync(string groupName, string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        _local.SendGroup(groupName, Serialize(methodName, args), excludedConnectionIds);
        return Task.CompletedTask;
    }

    public override Task SendGroupsAsync(IReadOnlyList<string> groupNames, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        foreach (var groupName in groupNames)
        {
            _local.SendGroup(groupName, message, null);
        }
        return Task.CompletedTask;
    }

    public override Task SendUserAsync(string userId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendUsersAsync([userId], methodName, args, cancellationToken);

    public override Task SendUsersAsync(IReadOnlyList<string> userIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        foreach (var userId in userIds)
        {
            _local.SendUser(userId, message);
        }
        return Task.CompletedTask;
    }

    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return _local[connectionId] is { } connection ? _local.AddToGroupAsync(connection, groupName) : Task.CompletedTask;
    }

    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return _local[connectionId] is { } connection ? _local.RemoveFromGroupAsync(connection, groupName) : Task.CompletedTask;
    }

    private static SerializedHubMessage Serialize(string methodName, object?[] args) => new(new InvocationMessage(methodName, args));
}
