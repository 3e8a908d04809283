using CollabHub.Server.Configuration;
using CollabHub.Server.Telemetry;
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
    private readonly LocalConnections _local;
    private readonly RedisConnection _redis;
    private readonly BackplaneChannels _channels;
    private readonly IReadOnlyList<IHubProtocol> _protocols;
    private readonly AckHandler _acks;
    private readonly string _instanceId;
    private readonly ILogger _logger;
    private readonly OutageLog _publishOutage;
    private readonly CollabHubMetrics _metrics;
    private readonly Task _started;

    public RedisHubLifetimeManager(
        RedisConnection redis,
        BackplaneInstance instance,
        ConnectionOutbox outbox,
        IOptions<CollabHubOptions> options,
        IHubProtocolResolver protocols,
        ILogger<RedisHubLifetimeManager<THub>> logger,
        CollabHubMetrics metrics)
    {
        _metrics = metrics;
        _redis = redis;
        _instanceId = instance.Id;
        _logger = logger;
        _channels = new BackplaneChannels(typeof(THub).Name);
        _protocols = protocols.AllProtocols;
        _acks = new AckHandler(options.Value.Backplane.AckTimeout);
        _local = new LocalConnections(
            outbox,
            new LocalMembers(
                group => _redis.SubscribeAsync(_channels.Group(group), data => OnGroupMessage(group, data)),
                group => _redis.Unsubscribe(_channels.Group(group))),
            new LocalMembers(
                user => _redis.SubscribeAsync(_channels.User(user), data => OnUserMessage(user, data)),
                user => _redis.Unsubscribe(_channels.User(user))));
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
        var id = connection.ConnectionId;
        await _redis.SubscribeAsync(_channels.Connection(id), data => OnConnectionMessage(id, data));
        await _local.AddAsync(connection);
    }

    public override Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        _redis.Unsubscribe(_channels.Connection(connection.ConnectionId));
        return _local.RemoveAsync(connection);
    }

    // Sends write to this instance's members at once (never waiting for them) and publish once for the others; the
    // task they return is the publish, which does not fail: an outage is logged, and clients repair gaps with Sync.

    public override Task SendAllAsync(string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendAllExceptAsync(methodName, args, [], cancellationToken);

    public override Task SendAllExceptAsync(string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        _local.SendAll(message, excludedConnectionIds);
        return PublishAsync(_channels.All, message, excludedConnectionIds);
    }

    public override Task SendConnectionAsync(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendConnectionsAsync([connectionId], methodName, args, cancellationToken);

    public override Task SendConnectionsAsync(IReadOnlyList<string> connectionIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        List<Task>? publishes = null;
        foreach (var connectionId in connectionIds)
        {
            if (_local[connectionId] is { } connection)
            {
                _local.Send(connection, message);
            }
            else
            {
                (publishes ??= []).Add(PublishAsync(_channels.Connection(connectionId), message, null));
            }
        }
        return publishes is null ? Task.CompletedTask : Task.WhenAll(publishes);
    }

    public override Task SendGroupAsync(string groupName, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendGroupExceptAsync(groupName, methodName, args, [], cancellationToken);

    public override Task SendGroupExceptAsync(string groupName, string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        _local.SendGroup(groupName, message, excludedConnectionIds);
        return PublishAsync(_channels.Group(groupName), message, excludedConnectionIds);
    }

    public override Task SendGroupsAsync(IReadOnlyList<string> groupNames, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        var publishes = new Task[groupNames.Count];
        for (var i = 0; i < groupNames.Count; i++)
        {
            _local.SendGroup(groupNames[i], message, null);
            publishes[i] = PublishAsync(_channels.Group(groupNames[i]), message, null);
        }
        return Task.WhenAll(publishes);
    }

    public override Task SendUserAsync(string userId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        SendUsersAsync([userId], methodName, args, cancellationToken);

    public override Task SendUsersAsync(IReadOnlyList<string> userIds, string methodName, object?[] args, CancellationToken cancellationToken = default)
    {
        var message = Serialize(methodName, args);
        var publishes = new Task[userIds.Count];
        for (var i = 0; i < userIds.Count; i++)
        {
            _local.SendUser(userIds[i], message);
            publishes[i] = PublishAsync(_channels.User(userIds[i]), message, null);
        }
        return Task.WhenAll(publishes);
    }

    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return _local[connectionId] is { } connection
            ? _local.AddToGroupAsync(connection, groupName)
            : SendGroupCommandAsync(GroupAction.Add, connectionId, groupName);
    }

    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(groupName);
        return _local[connectionId] is { } connection
            ? _local.RemoveFromGroupAsync(connection, groupName)
            : SendGroupCommandAsync(GroupAction.Remove, connectionId, groupName);
    }

    private async Task SendGroupCommandAsync(GroupAction action, string connectionId, string groupName)
    {
        var (ackId, acked) = _acks.Create($"{action} of connection '{connectionId}' {(action == GroupAction.Add ? "to" : "from")} group '{groupName}'");
        var command = BackplaneProtocol.WriteGroupCommand(new GroupCommand(action, ackId, _instanceId, connectionId, groupName));
        await _redis.PublishAsync(_channels.GroupCommands, command);
        await acked;
    }

    private static SerializedHubMessage Serialize(string methodName, object?[] args) => new(new InvocationMessage(methodName, args));

    private async Task PublishAsync(string channel, SerializedHubMessage message, IReadOnlyList<string>? excluded)
    {
        try
        {
            await _redis.PublishAsync(channel, BackplaneProtocol.WriteInvocation(_instanceId, message, _protocols, excluded));
            _metrics.BackplanePublished();
            _publishOutage.Succeeded();
        }
        catch (Exception ex) when (RedisUnavailableException.IsRedisFailure(ex))
        {
            // Local members already have it; other instances' clients repair the gap with Sync.
            _metrics.BackplanePublishFailed();
            _publishOutage.Failed(ex);
        }
    }

    // Subscription handlers run on the channel's message loop (one message at a time, in order): decode, start the
    // writes, never block.

    private void OnAllMessage(ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is { } invocation)
        {
            _local.SendAll(invocation.Message, invocation.Excluded);
        }
    }

    private void OnGroupMessage(string groupName, ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is { } invocation)
        {
            _local.SendGroup(groupName, invocation.Message, invocation.Excluded);
        }
    }

    private void OnUserMessage(string userId, ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is { } invocation)
        {
            _local.SendUser(userId, invocation.Message);
        }
    }

    private void OnConnectionMessage(string connectionId, ReadOnlyMemory<byte> data)
    {
        if (Decode(data) is { } invocation && _local[connectionId] is { } connection)
        {
            _local.Send(connection, invocation.Message);
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
        if (_local[command.ConnectionId] is not { } connection)
        {
            return;
        }
        _ = ApplyGroupCommandAsync(connection, command);
    }

    private async Task ApplyGroupCommandAsync(HubConnectionContext connection, GroupCommand command)
    {
        try
        {
            await (command.Action == GroupAction.Add
                ? _local.AddToGroupAsync(connection, command.GroupName)
                : _local.RemoveFromGroupAsync(connection, command.GroupName));
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
            if (invocation.Origin == _instanceId)
            {
                return null;
            }
            _metrics.BackplaneReceived();
            return invocation;
        }
        catch (InvalidDataException ex)
        {
            LogBadMessage(ex, "invocation");
            return null;
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
}
