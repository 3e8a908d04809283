using System.Collections.Concurrent;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace CollabHub.Server.Backplane;

/// <summary>
/// SignalR's extension point for scale-out, over StackExchange.Redis pub/sub (<see cref="RedisConnection"/>). A
/// router: a message for connections on this instance is written to them directly; one that may concern other
/// instances is also published once to Redis, and each instance delivers it to its own members (skipping what it
/// published itself). So local delivery keeps working while Redis is down; what other instances miss then is
/// repaired by the room seq and Sync (docs/operations.md).
/// </summary>
/// <remarks>
/// An instance subscribes to a group's (or user's, or connection's) channel only while it has a local member.
/// Group changes for a connection on another instance go through <see cref="BackplaneChannels.GroupCommands"/>
/// and wait for that instance's ack, or fail after <see cref="BackplaneOptions.AckTimeout"/>.
/// </remarks>
internal sealed partial class RedisHubLifetimeManager<THub> : HubLifetimeManager<THub> where THub : Hub
{
    private readonly HubConnectionStore _connections = new();
    private readonly ConcurrentDictionary<string, HashSet<string>> _groupsOfConnection = new(StringComparer.Ordinal);
    private readonly LocalMembers _groups;
    private readonly LocalMembers _users;
    private readonly RedisConnection _redis;
    private readonly BackplaneChannels _channels;
    private readonly IReadOnlyList<IHubProtocol> _protocols;
    private readonly AckHandler _acks;
    private readonly string _instanceId;
    private readonly ILogger _logger;
    private readonly OutageLog _publishOutage;
    private readonly Task _started;

    public RedisHubLifetimeManager(
        RedisConnection redis,
        BackplaneInstance instance,
        IOptions<CollabHubOptions> options,
        IHubProtocolResolver protocols,
        ILogger<RedisHubLifetimeManager<THub>> logger)
    {
        _redis = redis;
        _instanceId = instance.Id;
        _logger = logger;
        _channels = new BackplaneChannels(typeof(THub).Name);
        _protocols = protocols.AllProtocols;
        _acks = new AckHandler(options.Value.Backplane.AckTimeout);
        _groups = new LocalMembers(
            group => _redis.SubscribeAsync(_channels.Group(group), data => OnGroupMessage(group, data)),
            group => _redis.Unsubscribe(_channels.Group(group)));
        _users = new LocalMembers(
            user => _redis.SubscribeAsync(_channels.User(user), data => OnUserMessage(user, data)),
            user => _redis.Unsubscribe(_channels.User(user)));
        _publishOutage = new OutageLog(ex => LogPublishFailing(ex), count => LogPublishRecovered(count));
        _started = SubscribeInstanceChannelsAsync();
    }

    private async Task SubscribeInstanceChannelsAsync()
    {
        await _redis.SubscribeAsync(_channels.All, OnAllMessage);
        await _redis.SubscribeAsync(_channels.GroupCommands, OnGroupCommand);
        await _redis.SubscribeAsync(_channels.Acks(_instanceId), OnAck);
    }

    public override async Task OnConnectedAsync(HubConnectionContext connection)
    {
        await _started;
        _connections.Add(connection);
        var id = connection.ConnectionId;
        await _redis.SubscribeAsync(_channels.Connection(id), data => OnConnectionMessage(id, data));
        if (connection.UserIdentifier is { } user)
        {
            await _users.AddAsync(user, connection);
        }
    }

    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        _connections.Remove(connection);
        _redis.Unsubscribe(_channels.Connection(connection.ConnectionId));
        if (_groupsOfConnection.TryRemove(connection.ConnectionId, out var groups))
        {
            string[] names;
            lock (groups)
            {
                names = [.. groups];
            }
            foreach (var group in names)
            {
                await _groups.RemoveAsync(group, connection);
            }
        }
        if (connection.UserIdentifier is { } user)
        {
            await _users.RemoveAsync(user, connection);
        }
    }

    public override Task SendAllAsync(string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendAllExceptAsync(methodName, args, [], cancellationToken);

    public override Task SendAllExceptAsync(string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        var local = new PendingWrites();
        foreach (var connection in _connections)
        {
            if (!excludedConnectionIds.Contains(connection.ConnectionId))
            {
                local.Add(WriteLocal(connection, message, cancellationToken));
            }
        }
        return local.WithPublish(PublishAsync(_channels.All, message, excludedConnectionIds));
    }

    public override Task SendConnectionAsync(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        return _connections[connectionId] is { } connection
            ? WriteLocal(connection, message, cancellationToken).AsTask()
            : PublishAsync(_channels.Connection(connectionId), message, null);
    }

    public override Task SendConnectionsAsync(IReadOnlyList<string> connectionIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        var pending = new PendingWrites();
        foreach (var connectionId in connectionIds)
        {
            if (_connections[connectionId] is { } connection)
            {
                pending.Add(WriteLocal(connection, message, cancellationToken));
            }
            else
            {
                pending.Add(PublishAsync(_channels.Connection(connectionId), message, null));
            }
        }
        return pending.AllAsync();
    }

    public override Task SendGroupAsync(string groupName, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendGroupExceptAsync(groupName, methodName, args, [], cancellationToken);

    public override Task SendGroupExceptAsync(string groupName, string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        var pending = new PendingWrites();
        WriteToMembers(_groups.Get(groupName), message, excludedConnectionIds, ref pending, cancellationToken);
        return pending.WithPublish(PublishAsync(_channels.Group(groupName), message, excludedConnectionIds));
    }

    public override Task SendGroupsAsync(IReadOnlyList<string> groupNames, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        var pending = new PendingWrites();
        foreach (var groupName in groupNames)
        {
            WriteToMembers(_groups.Get(groupName), message, [], ref pending, cancellationToken);
            pending.Add(PublishAsync(_channels.Group(groupName), message, null));
        }
        return pending.AllAsync();
    }

    public override Task SendUserAsync(string userId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendUsersAsync([userId], methodName, args, cancellationToken);

    public override Task SendUsersAsync(IReadOnlyList<string> userIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        var pending = new PendingWrites();
        foreach (var userId in userIds)
        {
            WriteToMembers(_users.Get(userId), message, [], ref pending, cancellationToken);
            pending.Add(PublishAsync(_channels.User(userId), message, null));
        }
        return pending.AllAsync();
    }

    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return _connections[connectionId] is { } connection
            ? AddLocalAsync(connection, groupName)
            : SendGroupCommandAsync(GroupAction.Add, connectionId, groupName);
    }

    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return _connections[connectionId] is { } connection
            ? RemoveLocalAsync(connection, groupName)
            : SendGroupCommandAsync(GroupAction.Remove, connectionId, groupName);
    }

    private Task AddLocalAsync(HubConnectionContext connection, string groupName)
    {
        var groups = _groupsOfConnection.GetOrAdd(connection.ConnectionId, static _ => new HashSet<string>(StringComparer.Ordinal));
        lock (groups)
        {
            groups.Add(groupName);
        }
        return _groups.AddAsync(groupName, connection);
    }

    private Task RemoveLocalAsync(HubConnectionContext connection, string groupName)
    {
        if (_groupsOfConnection.TryGetValue(connection.ConnectionId, out var groups))
        {
            lock (groups)
            {
                groups.Remove(groupName);
            }
        }
        return _groups.RemoveAsync(groupName, connection);
    }

    private async Task SendGroupCommandAsync(GroupAction action, string connectionId, string groupName)
    {
        var (ackId, acked) = _acks.Create($"{action} of connection '{connectionId}' {(action == GroupAction.Add ? "to" : "from")} group '{groupName}'");
        var command = BackplaneProtocol.WriteGroupCommand(new GroupCommand(action, ackId, _instanceId, connectionId, groupName));
        await _redis.PublishAsync(_channels.GroupCommands, command);
        await acked;
    }

    private SerializedHubMessage Serialize(string methodName, object?[] args) => new(new InvocationMessage(methodName, args));

    private async Task PublishAsync(string channel, SerializedHubMessage message, IReadOnlyList<string>? excluded)
    {
        try
        {
            await _redis.PublishAsync(channel, BackplaneProtocol.WriteInvocation(_instanceId, message, _protocols, excluded));
            _publishOutage.Succeeded();
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            // Local members already have it; other instances' clients repair the gap with Sync.
            _publishOutage.Failed(ex);
        }
    }

    /// <summary>Every write to a connection of this instance on the send path goes through here.</summary>
    private static ValueTask WriteLocal(HubConnectionContext connection, SerializedHubMessage message, CancellationToken cancellationToken) =>
        connection.WriteAsync(message, cancellationToken);

    private static void WriteToMembers(
        HubConnectionContext[] members, SerializedHubMessage message, IReadOnlyList<string> excluded, ref PendingWrites pending, CancellationToken cancellationToken)
    {
        foreach (var connection in members)
        {
            if (excluded.Count == 0 || !excluded.Contains(connection.ConnectionId))
            {
                pending.Add(WriteLocal(connection, message, cancellationToken));
            }
        }
    }

    // Subscription handlers run on the channel's message loop (one message at a time, in order): decode, start the
    // writes, never block.

    private void OnAllMessage(ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is not { } invocation)
        {
            return;
        }
        foreach (var connection in _connections)
        {
            Deliver(connection, invocation);
        }
    }

    private void OnGroupMessage(string groupName, ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is { } invocation)
        {
            foreach (var connection in _groups.Get(groupName))
            {
                Deliver(connection, invocation);
            }
        }
    }

    private void OnUserMessage(string userId, ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is { } invocation)
        {
            foreach (var connection in _users.Get(userId))
            {
                Deliver(connection, invocation);
            }
        }
    }

    private void OnConnectionMessage(string connectionId, ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is { } invocation && _connections[connectionId] is { } connection)
        {
            Deliver(connection, invocation);
        }
    }

    private void OnGroupCommand(ReadOnlyMemory<byte> data)
    {
        GroupCommand command;
        try
        {
            command = BackplaneProtocol.ReadGroupCommand(data.Span);
        }
        catch (InvalidDataException ex)
        {
            LogBadMessage(ex, _channels.GroupCommands);
            return;
        }
        if (_connections[command.ConnectionId] is not { } connection)
        {
            return;
        }
        _ = ApplyGroupCommandAsync(connection, command);
    }

    private async Task ApplyGroupCommandAsync(HubConnectionContext connection, GroupCommand command)
    {
        try
        {
            await (command.Action == GroupAction.Add ? AddLocalAsync(connection, command.GroupName) : RemoveLocalAsync(connection, command.GroupName));
            await _redis.PublishAsync(_channels.Acks(command.Origin), BackplaneProtocol.WriteAck(command.AckId));
        }
        catch (Exception ex)
        {
            LogGroupCommandFailed(ex, command.ConnectionId, command.GroupName);
        }
    }

    private void OnAck(ReadOnlyMemory<byte> data)
    {
        try
        {
            _acks.Acknowledge(BackplaneProtocol.ReadAck(data.Span));
        }
        catch (InvalidDataException ex)
        {
            LogBadMessage(ex, _channels.Acks(_instanceId));
        }
    }

    /// <summary>Decodes an invocation from another instance; null for our own (already delivered) or a malformed one.</summary>
    private BackplaneInvocation? Decode(ReadOnlyMemory<byte> data)
    {
        try
        {
            var invocation = BackplaneProtocol.ReadInvocation(data.Span);
            return invocation.Origin == _instanceId ? null : invocation;
        }
        catch (InvalidDataException ex)
        {
            LogBadMessage(ex, "invocation");
            return null;
        }
    }

    /// <summary>Every write of a message from another instance to a connection of this one goes through here.</summary>
    private void Deliver(HubConnectionContext connection, BackplaneInvocation invocation)
    {
        if (invocation.Excluded?.Contains(connection.ConnectionId) == true)
        {
            return;
        }
        var write = connection.WriteAsync(invocation.Message);
        if (!write.IsCompletedSuccessfully)
        {
            _ = ObserveAsync(write, connection.ConnectionId);
        }
    }

    private async Task ObserveAsync(ValueTask write, string connectionId)
    {
        try
        {
            await write;
        }
        catch (Exception ex)
        {
            LogDeliveryFailed(ex, connectionId);
        }
    }

    /// <summary>Collects the writes that did not complete at once, so a send allocates nothing when all do.</summary>
    private struct PendingWrites
    {
        private List<Task>? _tasks;

        public void Add(ValueTask write)
        {
            if (!write.IsCompletedSuccessfully)
            {
                (_tasks ??= []).Add(write.AsTask());
            }
        }

        public void Add(Task task)
        {
            if (!task.IsCompletedSuccessfully)
            {
                (_tasks ??= []).Add(task);
            }
        }

        public readonly Task AllAsync() => _tasks is null ? Task.CompletedTask : Task.WhenAll(_tasks);

        public Task WithPublish(Task publish)
        {
            Add(publish);
            return AllAsync();
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Publishing to the Redis backplane is failing; other instances miss messages until it heals (clients repair gaps with Sync)")]
    private partial void LogPublishFailing(Exception exception);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Publishing to the Redis backplane works again after {Failed} failed publishes")]
    private partial void LogPublishRecovered(long failed);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Dropped a malformed backplane message ({Source})")]
    private partial void LogBadMessage(Exception exception, string source);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Applying a group command for connection {ConnectionId} and group {Group} failed")]
    private partial void LogGroupCommandFailed(Exception exception, string connectionId, string group);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Debug, Message = "Writing a backplane message to connection {ConnectionId} failed")]
    private partial void LogDeliveryFailed(Exception exception, string connectionId);
}
