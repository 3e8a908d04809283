using System.Collections.Immutable;
using System.Text.Json;
using CollabHub.Client.Internal;
using CollabHub.Protocol;

namespace CollabHub.Client;

/// <summary>
/// The replica of one room a <see cref="CollabClient"/> has joined: its entries, its recent messages, its seq and its
/// presence, kept up to date on every connection the client makes. Writes made here go through the client's queue.
/// </summary>
/// <remarks>
/// <para>
/// The replica follows the ordering rules of docs/protocol.md ("Client behaviour"): events are held while a
/// <c>Join</c> is answered; an event at or below <see cref="Seq"/> is dropped, the one at <c>Seq + 1</c> is applied,
/// one further ahead is held and the gap is filled with <c>Sync</c> (paged, one fill at a time); a full answer replaces
/// the state. So the confirmed replica applies every position of the room exactly once, in order
/// (<see cref="Applied"/> shows it).
/// </para>
/// <para>
/// There are two views of the entries. <see cref="Confirmed"/> holds what the server has confirmed. <see cref="Entries"/>
/// (and <see cref="Get"/>) shows the same, plus, with <see cref="CollabClientOptions.OptimisticUpdates"/>, this client's
/// sets and deletes that the server has not answered yet.
/// </para>
/// <para>
/// Reading is lock-free and safe from any thread. The events are raised one at a time, in order, never under a lock,
/// on the thread that caused them (often SignalR's receive loop): keep handlers short, and do not block them on other
/// calls of the client.
/// </para>
/// </remarks>
public sealed partial class CollabRoom
{
    private static readonly ImmutableDictionary<string, Entry> NoEntries = ImmutableDictionary.Create<string, Entry>(StringComparer.Ordinal);

    private readonly IRoomOwner _owner;
    private readonly object _gate = new();

    // The confirmed replica.
    private long _seq;
    private bool _hasState;
    private int _catchUpRetries;
    private ImmutableDictionary<string, Entry> _confirmed = NoEntries;
    private ImmutableDictionary<string, Entry> _view = NoEntries;
    private readonly SortedList<long, Message> _messages = [];
    private IReadOnlyList<Message>? _messagesSnapshot = [];
    private long _newestPosted;
    private IReadOnlyList<PresenceEntry> _presence = [];
    private int _presenceCount;
    private readonly PresenceReplica _presenceReplica = new();
    private string? _role;

    // Ordering: the connection the room is joined on, and what is held until it can be applied.
    private IRoomChannel? _channel;
    private IRoomChannel? _joinedOn;
    private Phase _phase = Phase.Detached;
    private readonly SortedDictionary<long, object> _held = [];
    private long _answeredSeq;
    private bool _answeredCheckScheduled;

    // Optimistic apply: this client's unanswered sets and deletes, per key, in the order they were made.
    private readonly Dictionary<string, List<PendingValue>> _pending = new(StringComparer.Ordinal);
    private int _ackedPending;

    // Life: first sync, leaving, closed.
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _left;
    private bool _leaving;
    private bool _closed;

    internal CollabRoom(IRoomOwner owner, string roomId)
    {
        _owner = owner;
        RoomId = roomId;
    }

    private enum Phase
    {
        /// <summary>Not joined on any connection.</summary>
        Detached,

        /// <summary>A Join or a gap fill is running: events are held.</summary>
        CatchingUp,

        /// <summary>Events are applied as they come.</summary>
        Live,
    }

    /// <summary>The room id.</summary>
    public string RoomId { get; }

    /// <summary>The last room position the confirmed replica applied (0 before the first join).</summary>
    public long Seq => Volatile.Read(ref _seq);

    /// <summary>
    /// Whether the room is joined on the client's current connection and caught up: no <c>Join</c> or gap fill is
    /// running. False while the client is disconnected.
    /// </summary>
    public bool IsSynced
    {
        get
        {
            lock (_gate)
            {
                return _phase == Phase.Live && _joinedOn is not null;
            }
        }
    }

    /// <summary>
    /// The live entries as this client sees them, by key: the confirmed entries, with this client's unanswered sets and
    /// deletes over them (when <see cref="CollabClientOptions.OptimisticUpdates"/> is on). An unanswered set has
    /// <see cref="Entry.Version"/> 0. The dictionary is an immutable snapshot.
    /// </summary>
    public IReadOnlyDictionary<string, Entry> Entries => Volatile.Read(ref _view);

    /// <summary>The live entries the server has confirmed, by key (no tombstones), as of <see cref="Seq"/>. An immutable snapshot.</summary>
    public IReadOnlyDictionary<string, Entry> Confirmed => Volatile.Read(ref _confirmed);

    /// <summary>The most recent messages, up to <see cref="CollabClientOptions.MaxMessages"/>, ordered by seq; each once.</summary>
    public IReadOnlyList<Message> Messages
    {
        get
        {
            if (Volatile.Read(ref _messagesSnapshot) is { } messages)
            {
                return messages;
            }
            lock (_gate)
            {
                return _messagesSnapshot ??= [.. _messages.Values];
            }
        }
    }

    /// <summary>
    /// Who is in the room, one entry per user, sorted by user id, as the server last said. In a room with more users
    /// than the server lists (<c>CollabHub:Presence:MaxListed</c>), only part of them, as last listed: see <see cref="PresenceCount"/>.
    /// </summary>
    public IReadOnlyList<PresenceEntry> Presence => Volatile.Read(ref _presence);

    /// <summary>How many users are in the room, as the server last said (also when it lists fewer in <see cref="Presence"/>).</summary>
    public int PresenceCount => Volatile.Read(ref _presenceCount);

    /// <summary>
    /// This client's role in the room (<see cref="RoomRoles"/>) as the server last said: from the <c>Join</c> answer,
    /// then from <c>AccessChanged</c> events; null before the first join. A viewer's writes fail with <c>forbidden</c>.
    /// </summary>
    public string? Role => Volatile.Read(ref _role);

    /// <summary>Whether this client has sets or deletes of <paramref name="key"/> the server has not confirmed in the replica yet.</summary>
    /// <param name="key">The key.</param>
    public bool IsPending(string key)
    {
        lock (_gate)
        {
            return _pending.ContainsKey(key);
        }
    }

    /// <summary>
    /// One key or view changed (see <see cref="Entries"/>): from the server, from a write of this client that is shown
    /// before its answer, or from such a write being rolled back.
    /// </summary>
    public event Action<EntryChange>? Changed;

    /// <summary>
    /// A message reached the replica for the first time, in seq order: from an event, or from a <c>Join</c> or <c>Sync</c>
    /// answer (the first <c>Join</c> brings the most recent messages).
    /// </summary>
    public event Action<Message>? Posted;

    /// <summary>
    /// The room's members or their count changed; the argument is the list as it now stands (also in
    /// <see cref="Presence"/>, beside <see cref="PresenceCount"/>).
    /// </summary>
    public event Action<IReadOnlyList<PresenceEntry>>? PresenceChanged;

    /// <summary>
    /// This client's role in the room changed (see <see cref="Role"/>). When access is revoked (the role is
    /// <see cref="RoomRoles.None"/>), the server has taken the client out of the room: the room is closed, and its
    /// queued writes fail with <c>forbidden</c>.
    /// </summary>
    public event Action<string>? RoleChanged;

    /// <summary>Another connection in the room sent a signal. Signals are passed on, never stored.</summary>
    public event Action<SignalEvent>? Signaled;

    /// <summary>
    /// The confirmed replica applied positions <see cref="AppliedRange.From"/> to <see cref="AppliedRange.To"/>, for
    /// diagnostics and tests: between full snapshots, the ranges join up with no gap and no repeat.
    /// </summary>
    public event Action<AppliedRange>? Applied;

    /// <summary>The key as this client sees it (see <see cref="Entries"/>); null when it is absent.</summary>
    /// <param name="key">The key.</param>
    public Entry? Get(string key) => Volatile.Read(ref _view).GetValueOrDefault(key);

    /// <summary>The key's value as this client sees it, deserialized (camelCase JSON); default when the key is absent.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    public T? GetValue<T>(string key) =>
        Get(key) is { Value: { } value } ? value.Deserialize<T>(CollabConnection.Json) : default;

    /// <summary>The key as the server has confirmed it; null when it is absent.</summary>
    /// <param name="key">The key.</param>
    public Entry? GetConfirmed(string key) => Volatile.Read(ref _confirmed).GetValueOrDefault(key);

    /// <summary>
    /// Sets a key to a JSON value through the client's queue. It is sent when the client is connected and the room
    /// joined (at once when it is), again after a lost connection or a temporary refusal, with the same mutation id.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">Any JSON value.</param>
    /// <param name="options">An expected version (compare-and-set) and, if the app wants its own, a mutation id.</param>
    /// <param name="cancellationToken">Cancels the wait only: the write stays queued and may still be applied.</param>
    /// <returns>
    /// The server's answer, once the write is durable; a compare-and-set conflict is an answer with
    /// <see cref="WriteResult.Conflict"/>. <see cref="WriteResult.Duplicate"/> is true when the answer came to a resend.
    /// </returns>
    /// <exception cref="CollabHubException">
    /// At once: <c>queue_full</c>, <c>too_large</c>, or <c>not_joined</c> when the room was left. Later: a permanent
    /// refusal of the server (<c>invalid_key</c>, <c>too_large</c>, ...).
    /// </exception>
    public Task<WriteResult> SetAsync(string key, JsonElement value, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        _owner.SetAsync(this, key, value, options, cancellationToken);

    /// <summary>Sets a key to a value serialized as JSON (camelCase); see <see cref="SetAsync(string, JsonElement, WriteOptions?, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="options">An expected version (compare-and-set) and, if the app wants its own, a mutation id.</param>
    /// <param name="cancellationToken">Cancels the wait only: the write stays queued and may still be applied.</param>
    public Task<WriteResult> SetAsync<T>(string key, T value, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        _owner.SetAsync(this, key, JsonSerializer.SerializeToElement(value, CollabConnection.Json), options, cancellationToken);

    /// <summary>Deletes a key (the server keeps a tombstone) through the client's queue; see <see cref="SetAsync(string, JsonElement, WriteOptions?, CancellationToken)"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="options">An expected version (compare-and-set) and, if the app wants its own, a mutation id.</param>
    /// <param name="cancellationToken">Cancels the wait only: the delete stays queued and may still be applied.</param>
    public Task<WriteResult> DeleteAsync(string key, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        _owner.DeleteAsync(this, key, options, cancellationToken);

    /// <summary>
    /// Sets and deletes several keys at once, all or none, through the client's queue (offline too, exactly once,
    /// in order with the other writes). The view shows all its keys at once; other clients' replicas apply the
    /// batch's entries together.
    /// </summary>
    /// <param name="ops">The operations (<see cref="BatchOp.SetOp"/>, <see cref="BatchOp.DeleteOp"/>), each key at most once.</param>
    /// <param name="mutationId">The app's own mutation id; the client makes one when null.</param>
    /// <param name="cancellationToken">Cancels the wait only: the batch stays queued and may still be applied.</param>
    /// <returns>
    /// The server's answer once the batch is durable; a failed compare-and-set is an answer with
    /// <see cref="BatchResult.Conflict"/> (nothing stored, the view rolled back).
    /// </returns>
    /// <exception cref="CollabHubException">
    /// At once: <c>queue_full</c>, <c>too_large</c>, <c>invalid_argument</c> (no operations) or <c>not_joined</c>. Later:
    /// a permanent refusal of the server (<c>invalid_argument</c> for a key twice, <c>too_large</c>, <c>too_many_keys</c>, ...).
    /// </exception>
    public Task<BatchResult> BatchAsync(IReadOnlyList<BatchOp> ops, string? mutationId = null, CancellationToken cancellationToken = default) =>
        _owner.BatchAsync(this, ops, mutationId, cancellationToken);

    /// <summary>Posts a message with a JSON body through the client's queue; completes with the stored message once it is durable.</summary>
    /// <param name="body">Any JSON value.</param>
    /// <param name="mutationId">The app's own mutation id; the client makes one when null.</param>
    /// <param name="cancellationToken">Cancels the wait only: the post stays queued and may still be applied.</param>
    public Task<PostResult> PostAsync(JsonElement body, string? mutationId = null, CancellationToken cancellationToken = default) =>
        _owner.PostAsync(this, body, mutationId, cancellationToken);

    /// <summary>Posts a text message through the client's queue; completes with the stored message once it is durable.</summary>
    /// <param name="text">The text, sent as a JSON string.</param>
    /// <param name="mutationId">The app's own mutation id; the client makes one when null.</param>
    /// <param name="cancellationToken">Cancels the wait only: the post stays queued and may still be applied.</param>
    public Task<PostResult> PostAsync(string text, string? mutationId = null, CancellationToken cancellationToken = default) =>
        _owner.PostAsync(this, JsonSerializer.SerializeToElement(text, CollabConnection.Json), mutationId, cancellationToken);

    /// <summary>
    /// Sends an ephemeral payload (a cursor, "typing") to the room's other connections. Not queued: it needs the room
    /// to be joined on the current connection; never retried. As in the JS SDK, a signal while the room is not joined on
    /// a connection (offline, reconnecting, rejoining) is dropped: the task's result is false.
    /// </summary>
    /// <param name="payload">Any JSON value.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>True when the server took the signal, false when it was dropped because the room is not joined now.</returns>
    /// <exception cref="CollabHubException">The server refused it (for example <c>too_large</c>).</exception>
    public Task<bool> SignalAsync(JsonElement payload, CancellationToken cancellationToken = default) =>
        _owner.SignalAsync(this, payload, cancellationToken);

    /// <summary>Sends an ephemeral payload serialized as JSON (camelCase); see <see cref="SignalAsync(JsonElement, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The payload's type.</typeparam>
    /// <param name="payload">The payload.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<bool> SignalAsync<T>(T payload, CancellationToken cancellationToken = default) =>
        _owner.SignalAsync(this, JsonSerializer.SerializeToElement(payload, CollabConnection.Json), cancellationToken);

    /// <summary>
    /// Leaves the room: new writes to it fail with <c>not_joined</c> at once; the writes already queued are still sent
    /// and answered; then the client stops keeping the replica and, when connected, sends <c>Leave</c>.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait only: the room is still left once its writes are answered.</param>
    public Task LeaveAsync(CancellationToken cancellationToken = default) => _owner.LeaveAsync(this, cancellationToken);

    /// <inheritdoc />
    public override string ToString() => $"room {RoomId} at seq {Seq}";

    // ------------------------------------------------------------------------------------------------------------
    // Life of the room in the client (called by the owner).
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Completes when the replica has been joined and caught up for the first time; fails if the server refused the room.</summary>
    internal Task Synced => _synced.Task;

    /// <summary>Whether a write may be queued for the room now.</summary>
    internal bool AcceptsWrites
    {
        get
        {
            lock (_gate)
            {
                return !_closed && !_leaving;
            }
        }
    }

    internal bool IsLeaving
    {
        get
        {
            lock (_gate)
            {
                return _leaving && !_closed;
            }
        }
    }

    internal bool IsClosed
    {
        get
        {
            lock (_gate)
            {
                return _closed;
            }
        }
    }

    /// <summary>Whether the room's Join on <paramref name="channel"/> has been answered, so writes to it may be sent there.</summary>
    internal bool IsJoinedOn(IRoomChannel channel)
    {
        lock (_gate)
        {
            return !_closed && ReferenceEquals(_joinedOn, channel);
        }
    }

    /// <summary>Starts leaving; the returned task completes when the room is closed (or the leave was called off by a new join).</summary>
    internal Task BeginLeave()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return Task.CompletedTask;
            }
            _leaving = true;
            _left ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _left.Task;
        }
    }

    /// <summary>The app opened the room again while it was being left: it stays.</summary>
    internal void CancelLeave()
    {
        TaskCompletionSource? left;
        lock (_gate)
        {
            if (!_leaving || _closed)
            {
                return;
            }
            _leaving = false;
            left = _left;
            _left = null;
        }
        left?.TrySetResult();
    }

    /// <summary>
    /// Closes the replica for good: it is detached, keeps its last state, and takes no more events or writes.
    /// Returns the connection it was joined on, if any, and false when it was closed already.
    /// </summary>
    internal bool TryClose(Exception? error, out IRoomChannel? joinedOn)
    {
        lock (_gate)
        {
            joinedOn = _joinedOn;
            if (_closed)
            {
                return false;
            }
            _closed = true;
            _channel = null;
            _joinedOn = null;
            _phase = Phase.Detached;
            _held.Clear();
            foreach (var key in _pending.Keys.ToList())
            {
                _pending.Remove(key);
                RefreshView(key, ChangeOrigin.Rollback);
            }
            _ackedPending = 0;
        }
        if (error is null)
        {
            _synced.TrySetCanceled();
        }
        else
        {
            _synced.TrySetException(error);
        }
        // The caller raises the posted events once it holds no lock.
        return true;
    }

    /// <summary>Completes a <see cref="BeginLeave"/> wait.</summary>
    internal void CompleteLeave()
    {
        TaskCompletionSource? left;
        lock (_gate)
        {
            left = _left;
            _left = null;
        }
        left?.TrySetResult();
    }
}
