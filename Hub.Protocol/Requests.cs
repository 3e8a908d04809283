using System.Text.Json;
using System.Text.Json.Serialization;

namespace CollabHub.Protocol;

/// <summary>The hub methods of the v1 wire contract, as invoked over SignalR.</summary>
public static class HubMethods
{
    /// <summary>Joins a room: <see cref="JoinRequest"/> returns <see cref="JoinResult"/>.</summary>
    public const string Join = "Join";
    /// <summary>Leaves a room: <see cref="LeaveRequest"/>, returns nothing.</summary>
    public const string Leave = "Leave";
    /// <summary>Sets a key: <see cref="SetRequest"/> returns <see cref="WriteResult"/>.</summary>
    public const string Set = "Set";
    /// <summary>Deletes a key: <see cref="DeleteRequest"/> returns <see cref="WriteResult"/>.</summary>
    public const string Delete = "Delete";
    /// <summary>Sets and deletes several keys at once, all or none: <see cref="BatchRequest"/> returns <see cref="BatchResult"/>.</summary>
    public const string Batch = "Batch";
    /// <summary>Posts a message: <see cref="PostRequest"/> returns <see cref="PostResult"/>.</summary>
    public const string Post = "Post";
    /// <summary>Catches up on a room: <see cref="SyncRequest"/> returns <see cref="SyncResult"/>.</summary>
    public const string Sync = "Sync";
    /// <summary>Sends an ephemeral signal: <see cref="SignalRequest"/>, returns nothing.</summary>
    public const string Signal = "Signal";
    /// <summary>Changes a user's role in a private room: <see cref="GrantRequest"/>, returns nothing. Owners only.</summary>
    public const string Grant = "Grant";
    /// <summary>Reads a room's roles: <see cref="GetAccessRequest"/> returns <see cref="RoomAccess"/>. Owners only.</summary>
    public const string GetAccess = "GetAccess";
}

/// <summary>The events the hub sends to clients.</summary>
public static class HubEvents
{
    /// <summary><c>(roomId, Entry)</c>: one entry was set or deleted.</summary>
    public const string Changed = "Changed";
    /// <summary><c>(roomId, Message)</c>: a message was posted.</summary>
    public const string Posted = "Posted";
    /// <summary><c>(roomId, SignalEvent)</c>: an ephemeral signal from another connection.</summary>
    public const string Signaled = "Signaled";
    /// <summary><c>(roomId, PresenceDelta)</c>: who arrived, changed or left since the last one, coalesced per room.</summary>
    public const string PresenceDelta = "PresenceDelta";
    /// <summary><c>(roomId, AccessChange)</c>: this connection's role in the room changed; <c>none</c> means it was removed.</summary>
    public const string AccessChanged = "AccessChanged";
}

/// <summary>Joins a room. Without <see cref="SinceSeq"/> the answer is a full snapshot; with it, a delta.</summary>
/// <param name="RoomId">The room to join.</param>
/// <param name="SinceSeq">The last room sequence number the client has applied, if any.</param>
public sealed record JoinRequest(string RoomId, long? SinceSeq = null);

/// <summary>Leaves a room.</summary>
/// <param name="RoomId">The room to leave.</param>
public sealed record LeaveRequest(string RoomId);

/// <summary>Sets a key to a JSON value.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="Key">The key to set.</param>
/// <param name="Value">Any JSON value.</param>
/// <param name="MutationId">A client-made id, unique per user, that makes the write exactly-once.</param>
/// <param name="ExpectedVersion">Compare-and-set: apply only if the key's version equals this (0 = must not exist).</param>
public sealed record SetRequest(string RoomId, string Key, JsonElement Value, string? MutationId = null, long? ExpectedVersion = null);

/// <summary>Deletes a key, leaving a tombstone.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="Key">The key to delete.</param>
/// <param name="MutationId">A client-made id, unique per user, that makes the write exactly-once.</param>
/// <param name="ExpectedVersion">Compare-and-set: apply only if the key's version equals this.</param>
public sealed record DeleteRequest(string RoomId, string Key, string? MutationId = null, long? ExpectedVersion = null);

/// <summary>The kinds of operation in a <see cref="BatchRequest"/>, as they travel on the wire.</summary>
public static class BatchOps
{
    /// <summary>Sets <see cref="BatchOp.Key"/> to <see cref="BatchOp.Value"/>.</summary>
    public const string Set = "set";
    /// <summary>Deletes <see cref="BatchOp.Key"/>, leaving a tombstone.</summary>
    public const string Delete = "delete";
}

/// <summary>One operation of a <see cref="BatchRequest"/>.</summary>
/// <param name="Op"><see cref="BatchOps.Set"/> or <see cref="BatchOps.Delete"/>.</param>
/// <param name="Key">The key; each key at most once per batch.</param>
/// <param name="Value">For a set: any JSON value (required; JSON null is a value). A delete has none.</param>
/// <param name="ExpectedVersion">Compare-and-set: the whole batch applies only if the key's version equals this (0 = must not exist).</param>
public sealed record BatchOp(
    string Op,
    string Key,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] JsonElement Value = default,
    long? ExpectedVersion = null)
{
    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/>.</summary>
    public static BatchOp SetOp(string key, JsonElement value, long? expectedVersion = null) => new(BatchOps.Set, key, value, expectedVersion);

    /// <summary>Deletes <paramref name="key"/>.</summary>
    public static BatchOp DeleteOp(string key, long? expectedVersion = null) => new(BatchOps.Delete, key, default, expectedVersion);
}

/// <summary>
/// Sets and deletes several keys of one room in one transaction: all the operations apply, each taking the room's
/// next seq in order, or none does.
/// </summary>
/// <param name="RoomId">The room.</param>
/// <param name="Ops">The operations, in the order they take their seqs.</param>
/// <param name="MutationId">A client-made id, unique per user, that makes the whole batch exactly-once.</param>
public sealed record BatchRequest(string RoomId, IReadOnlyList<BatchOp> Ops, string? MutationId = null);

/// <summary>Posts a message to the room's log.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="Body">Any JSON value, typically a string.</param>
/// <param name="MutationId">A client-made id, unique per user, that makes the post exactly-once.</param>
public sealed record PostRequest(string RoomId, JsonElement Body, string? MutationId = null);

/// <summary>Asks for what changed in a room after <see cref="SinceSeq"/>.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="SinceSeq">The last room sequence number the client has applied.</param>
/// <param name="Limit">At most this many items (entries plus messages); defaults to the server's page size.</param>
public sealed record SyncRequest(string RoomId, long? SinceSeq, int? Limit = null);

/// <summary>Sends an ephemeral payload (cursor, typing) to the room's other connections; never stored.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="Payload">Any JSON value.</param>
public sealed record SignalRequest(string RoomId, JsonElement Payload);
