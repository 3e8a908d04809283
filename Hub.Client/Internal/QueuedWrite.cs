using System.Text.Json;
using CollabHub.Protocol;

namespace CollabHub.Client.Internal;

/// <summary>One write in a client's queue, from the app's call until its answer. Mutable fields are guarded by the <see cref="WriteQueue"/>'s lock.</summary>
internal sealed class QueuedWrite
{
    /// <summary>Given when the write is queued; orders the queue and names its pending value in the room's view.</summary>
    public long Id { get; set; }

    public required WriteKind Kind { get; init; }

    public required CollabRoom Room { get; init; }

    public required string MutationId { get; init; }

    /// <summary>The operations of a batch (values cloned); null for the other kinds.</summary>
    public IReadOnlyList<BatchOp>? Ops { get; init; }

    /// <summary>The app's wait for a batch; null for a write loaded from the offline queue.</summary>
    public TaskCompletionSource<BatchResult>? BatchDone { get; init; }

    /// <summary>The key of a set or delete; null for a post.</summary>
    public string? Key { get; init; }

    /// <summary>The value of a set or the body of a post; null for a delete.</summary>
    public JsonElement? Value { get; init; }

    public long? ExpectedVersion { get; init; }

    /// <summary>The app's wait for a set or delete; null for a write loaded from the offline queue.</summary>
    public TaskCompletionSource<WriteResult>? WriteDone { get; init; }

    /// <summary>The app's wait for a post; null for a write loaded from the offline queue.</summary>
    public TaskCompletionSource<PostResult>? PostDone { get; init; }

    /// <summary>
    /// Writes that share a gate are never in flight together, so they apply in the order they were made even when one
    /// is retried: one per key written (a batch has one per operation), one for a room's posts.
    /// </summary>
    public IEnumerable<string> Gates => Kind switch
    {
        WriteKind.Post => [$"{Room.RoomId}\npost"],
        WriteKind.Batch => Ops!.Select(op => KeyGate(op.Key)),
        _ => [KeyGate(Key!)],
    };

    private string KeyGate(string key) => $"{Room.RoomId}\nkey\n{key}";

    public bool Silent => WriteDone is null && PostDone is null && BatchDone is null;

    /// <summary>Ends the app's wait, whichever kind of write this is, with <paramref name="error"/>.</summary>
    public void Fail(Exception error)
    {
        WriteDone?.TrySetException(error);
        PostDone?.TrySetException(error);
        BatchDone?.TrySetException(error);
    }

    /// <summary>Its place in the queue while it is queued; null once it was answered.</summary>
    public LinkedListNode<QueuedWrite>? Node { get; set; }

    /// <summary>The session it was sent on and awaits an answer from; null when it waits to be sent.</summary>
    public Session? InFlight { get; set; }

    /// <summary>Temporary refusals in a row.</summary>
    public int Refusals { get; set; }

    /// <summary>Not to be sent before this <see cref="Environment.TickCount64"/>.</summary>
    public long RetryAt { get; set; }

    /// <summary>A write the offline queue file kept (<see cref="ToPersisted"/>), to be queued in <paramref name="room"/>.</summary>
    public static QueuedWrite FromPersisted(PersistedWrite persisted, CollabRoom room)
    {
        var kind = persisted.Kind switch { "set" => WriteKind.Set, "delete" => WriteKind.Delete, "batch" => WriteKind.Batch, _ => WriteKind.Post };
        JsonElement? value = persisted.Value is { } json && kind != WriteKind.Batch ? JsonDocument.Parse(json).RootElement.Clone() : null;
        return new QueuedWrite
        {
            Kind = kind,
            Room = room,
            MutationId = persisted.MutationId,
            Key = persisted.Key,
            Value = value,
            Ops = kind == WriteKind.Batch ? JsonSerializer.Deserialize<BatchOp[]>(persisted.Value!, CollabConnection.Json) : null,
            ExpectedVersion = persisted.ExpectedVersion,
        };
    }

    public PersistedWrite ToPersisted() => new(
        MutationId,
        Kind.ToString().ToLowerInvariant(),
        Room.RoomId,
        Key,
        // A batch keeps its operations, as their JSON array, where the others keep their value.
        Ops is null ? Value?.GetRawText() : JsonSerializer.Serialize(Ops, CollabConnection.Json),
        ExpectedVersion);
}

/// <summary>A write as the offline queue file keeps it. <see cref="Value"/> is the raw JSON text (JSON null included).</summary>
internal sealed record PersistedWrite(string MutationId, string Kind, string RoomId, string? Key, string? Value, long? ExpectedVersion);
