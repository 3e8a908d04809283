using System.Text.Json;
using System.Text.Json.Serialization;

namespace CollabHub.Protocol;

/// <summary>One key of a room's store.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The JSON value; <c>null</c> for a tombstone.</param>
/// <param name="Version">The room sequence number of the key's last write.</param>
/// <param name="Deleted">True for a tombstone left by a delete.</param>
/// <param name="By">The user id of the last writer.</param>
/// <param name="At">When the last write was committed.</param>
/// <param name="Batch">
/// Only on the <c>Changed</c> events and the result of a Batch: the seqs its batch took. A client that applies
/// <c>Changed</c> events holds an entry with this mark until it has every seq of the range, and applies them
/// together. Absent from the wire (not null) everywhere else, so readers that do not know it are not affected.
/// </param>
public sealed record Entry(
    string Key,
    JsonElement? Value,
    long Version,
    bool Deleted,
    string By,
    DateTimeOffset At,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] BatchRange? Batch = null);

/// <summary>The seqs a batch took: one per operation, from <see cref="From"/> to <see cref="To"/> inclusive.</summary>
/// <param name="From">The seq of the batch's first operation.</param>
/// <param name="To">The seq of its last operation.</param>
public sealed record BatchRange(long From, long To);

/// <summary>One message of a room's log.</summary>
/// <param name="Seq">The room sequence number the post took.</param>
/// <param name="Id">The message id, made by the server, unique in the room.</param>
/// <param name="Body">The JSON body.</param>
/// <param name="By">The user id of the poster.</param>
/// <param name="At">When the post was committed.</param>
public sealed record Message(long Seq, string Id, JsonElement Body, string By, DateTimeOffset At);

/// <summary>One user present in a room.</summary>
/// <param name="UserId">The user id.</param>
/// <param name="Name">The display name.</param>
/// <param name="Connections">How many of the user's connections are in the room.</param>
public sealed record PresenceEntry(string UserId, string Name, int Connections);

/// <summary>An ephemeral signal from another connection in a room.</summary>
/// <param name="From">The sender's user id.</param>
/// <param name="Name">The sender's display name.</param>
/// <param name="Tag">
/// An opaque tag of the sender's connection, to tell apart two tabs of one user. It addresses nothing: it is neither
/// the connection id nor its token, and it changes with every connection.
/// </param>
/// <param name="Payload">The JSON payload as sent.</param>
public sealed record SignalEvent(string From, string Name, string Tag, JsonElement Payload);

/// <summary>The answer to <see cref="HubMethods.Join"/>.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="Seq">The position this answer brings the client up to.</param>
/// <param name="Full">True when this is a full snapshot (replace local state), false for a delta.</param>
/// <param name="Entries">Entries ordered by version; a delta includes tombstones.</param>
/// <param name="Messages">Messages ordered by seq.</param>
/// <param name="Presence">
/// Who is in the room now, sorted by user id: everyone, or the first <c>MaxListed</c> when the room has more users.
/// </param>
/// <param name="HasMore">When true, call Sync with <c>sinceSeq = Seq</c> until it is false.</param>
/// <param name="Role">The caller's role in the room (<see cref="RoomRoles"/>): a viewer may read but not write.</param>
/// <param name="PresenceCount">How many users are in the room; above the server's <c>MaxListed</c>, more than <see cref="Presence"/> lists.</param>
public sealed record JoinResult(
    string RoomId, long Seq, bool Full, IReadOnlyList<Entry> Entries, IReadOnlyList<Message> Messages, IReadOnlyList<PresenceEntry> Presence,
    bool HasMore, string Role = RoomRoles.Editor, int PresenceCount = 0);

/// <summary>
/// What changed in a room's presence since the last delta (sent coalesced, per room, by the instance where the
/// changes happened). Upserts carry a user's whole entry as it stands, so applying a delta twice, or an older one
/// after a newer list, is repaired by the next.
/// </summary>
/// <param name="Upserts">Users who arrived, or whose connection count or name changed; null while the room is counted.</param>
/// <param name="Removed">User ids that left; null while the room is counted.</param>
/// <param name="Count">How many users are in the room after the change.</param>
/// <param name="Full">True when <see cref="Upserts"/> is the whole list (the room came back under <c>MaxListed</c>): replace, do not merge.</param>
public sealed record PresenceDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<PresenceEntry>? Upserts,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Removed,
    int Count,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool Full = false)
{
    /// <summary>Whether the room is counted rather than listed: the delta carries only <see cref="Count"/>.</summary>
    [JsonIgnore]
    public bool Counted => Upserts is null;
}

/// <summary>The answer to <see cref="HubMethods.Sync"/>.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="Seq">The position this answer brings the client up to.</param>
/// <param name="Entries">Entries (tombstones included) with a version above the asked seq, ordered by version.</param>
/// <param name="Messages">Messages with a seq above the asked seq, ordered by seq.</param>
/// <param name="HasMore">When true, call Sync again with <c>sinceSeq = Seq</c>.</param>
/// <param name="Full">True when the asked seq is older than the tombstone purge horizon: the answer is a full snapshot.</param>
public sealed record SyncResult(string RoomId, long Seq, IReadOnlyList<Entry> Entries, IReadOnlyList<Message> Messages, bool HasMore, bool Full = false);

/// <summary>The answer to a Set or a Delete.</summary>
/// <param name="Applied">True when this call changed the store.</param>
/// <param name="Duplicate">True when the mutation id was seen before: this is the first call's result.</param>
/// <param name="Conflict">True when the expected version did not match: nothing was stored.</param>
/// <param name="Seq">The seq the write took when applied; otherwise the room's seq when it was refused.</param>
/// <param name="Entry">The entry as it now stands (on a conflict, the current one that won); null if the key never existed.</param>
public sealed record WriteResult(bool Applied, bool Duplicate, bool Conflict, long Seq, Entry? Entry);

/// <summary>The answer to a Batch.</summary>
/// <param name="Applied">True when this call applied every operation.</param>
/// <param name="Duplicate">True when the mutation id was seen before: this is the first call's result.</param>
/// <param name="Conflict">True when an expected version did not match: nothing was stored.</param>
/// <param name="Seq">When applied, the seq of the last operation (the first is <c>Seq - Entries.Count + 1</c>); otherwise the room's seq when it was refused.</param>
/// <param name="Entries">
/// When applied, the entry each operation left, in operation order (each marked with <see cref="Entry.Batch"/>). On a
/// conflict, the current entries of the keys whose expected version did not match, in operation order; a key that
/// never existed has none.
/// </param>
public sealed record BatchResult(bool Applied, bool Duplicate, bool Conflict, long Seq, IReadOnlyList<Entry> Entries);

/// <summary>The answer to a Post.</summary>
/// <param name="Seq">The seq the message took.</param>
/// <param name="Message">The stored message.</param>
/// <param name="Duplicate">True when the mutation id was seen before: this is the first call's result.</param>
public sealed record PostResult(long Seq, Message Message, bool Duplicate);
