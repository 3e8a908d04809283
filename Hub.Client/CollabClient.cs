using System.Text.Json;
using CollabHub.Client.Internal;
using CollabHub.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CollabHub.Client;

/// <summary>
/// The .NET client SDK of CollabHub: it stays connected (reconnecting with backoff), keeps a replica of every room it
/// has joined (<see cref="CollabRoom"/>), and sends writes through one ordered, bounded, optionally persisted queue,
/// so that nothing is lost and nothing is applied twice. It follows docs/protocol.md, "Client behaviour".
/// </summary>
/// <remarks>
/// <para>
/// <b>Connecting.</b> <see cref="StartAsync"/> starts a loop that connects, and reconnects after every drop, with
/// exponential backoff and full jitter (<see cref="CollabClientOptions.ReconnectMinDelay"/> doubling up to
/// <see cref="CollabClientOptions.ReconnectMaxDelay"/>), forever unless
/// <see cref="CollabClientOptions.ReconnectMaxAttempts"/> caps it. Failed first attempts are retried the same way.
/// After every connect, the client joins every open room with <c>sinceSeq</c> = the replica's seq, and sends each
/// room's queued writes once the room is joined. <see cref="State"/> and <see cref="StateChanged"/> show where it stands.
/// </para>
/// <para>
/// <b>Rooms.</b> <see cref="OpenRoom"/> returns a room's replica at once, even offline or before the start; it fills
/// when the client is connected. <see cref="JoinAsync"/> does the same and waits until the replica is caught up.
/// </para>
/// <para>
/// <b>Writes.</b> Each write gets a mutation id (a random GUID unless the app gives one) and keeps it for every resend.
/// Writes are sent in the order they were made, several at a time, except that two writes of one key (or two posts to
/// one room) are never in flight together, so a retried write can not land after a later one of the same key. A write
/// waits in the queue while the client is disconnected; it is sent again after a lost connection, and after a
/// temporary refusal (<c>overloaded</c>, <c>unavailable</c>, <c>rate_limited</c>) with backoff. Its task completes
/// with the server's answer, or fails with a permanent refusal. <see cref="PendingWrites"/> counts the writes without an
/// answer.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// await using var client = new CollabClient(new CollabClientOptions { Url = new("http://localhost:5000/hubs/collab"), Name = "ada" });
/// await client.StartAsync();
/// var room = await client.JoinAsync("demo");
/// room.Changed += change => Console.WriteLine($"{change.Key} = {change.Entry?.Value}");
/// var result = await room.SetAsync("title", "Planning");
/// </code>
/// </example>
public sealed class CollabClient : IAsyncDisposable, ISessionListener
{
    /// <summary>
    /// The largest single message the client accepts (8 MiB): the size of SignalR's transport and application buffers,
    /// unless <see cref="CollabClientOptions.ConfigureHttpConnection"/> changes them.
    /// </summary>
    public const int DefaultMaxReceiveBytes = 8 * 1024 * 1024;

    // The three parts, each with its own state and lock; this class wires them and is the public face.
    private readonly Notifier _notifier;
    private readonly ConnectionLoop _loop;
    private readonly WriteQueue _queue;
    private readonly RoomRegistry _rooms;

    /// <summary>
    /// Creates a client. Nothing connects until <see cref="StartAsync"/>; with
    /// <see cref="CollabClientOptions.OfflineQueuePath"/>, the writes a previous run left there are loaded now (and
    /// their rooms opened for them).
    /// </summary>
    /// <param name="options">Where and as whom to connect, and how to behave. Read once, here.</param>
    /// <exception cref="ArgumentException">The options are invalid (for example, no absolute <see cref="CollabClientOptions.Url"/>).</exception>
    /// <exception cref="InvalidOperationException">Another client holds the offline queue file.</exception>
    /// <exception cref="InvalidDataException">The offline queue file is not one this client can read.</exception>
    public CollabClient(CollabClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException(ex.Message, nameof(options));
        }
        var logger = options.LoggerFactory?.CreateLogger<CollabClient>() ?? NullLogger<CollabClient>.Instance;
        _notifier = new Notifier(logger);
        var backoff = new Backoff(options.ReconnectMinDelay, options.ReconnectMaxDelay);
        _loop = new ConnectionLoop(options, logger, _notifier, backoff, this);
        _queue = new WriteQueue(options, logger, _notifier, backoff, _loop, WriteRemoved);
        _rooms = new RoomRegistry(options, logger, _notifier, backoff, _loop, _queue);
        _queue.Load(_rooms.OpenForLoadedWrites);
    }

    /// <summary>Where the connection stands now.</summary>
    public CollabClientState State => _loop.State;

    /// <summary>Whether the client is connected now (<see cref="State"/> is <see cref="CollabClientState.Connected"/>).</summary>
    public bool IsConnected => State == CollabClientState.Connected;

    /// <summary>
    /// The state changed, or a connection attempt failed: every failed attempt raises it (<see cref="CollabClientState.Reconnecting"/>
    /// again, with <see cref="CollabStateChange.Error"/> the attempt's error), so an app can show why it is offline
    /// while the client retries. Raised one at a time, in order, like the rooms' events.
    /// </summary>
    public event Action<CollabStateChange>? StateChanged
    {
        add => _loop.StateChanged += value;
        remove => _loop.StateChanged -= value;
    }

    /// <summary>
    /// A write ended: answered, or failed for good (including writes loaded from the offline queue file, which have no
    /// task). As the JS SDK's <c>settled</c> event.
    /// </summary>
    public event Action<SettledWrite>? Settled
    {
        add => _queue.Settled += value;
        remove => _queue.Settled -= value;
    }

    /// <summary>
    /// A problem of the client itself, not of one write: the offline queue file could not be saved. As the JS SDK's
    /// client <c>error</c> event (<c>storage_failed</c>).
    /// </summary>
    public event Action<Exception>? Error
    {
        add => _queue.Error += value;
        remove => _queue.Error -= value;
    }

    /// <summary>How many writes have no answer yet, queued or in flight.</summary>
    public int PendingWrites => _queue.Count;

    /// <summary><see cref="PendingWrites"/> changed; the argument is the new count.</summary>
    public event Action<int>? PendingWritesChanged
    {
        add => _queue.PendingWritesChanged += value;
        remove => _queue.PendingWritesChanged -= value;
    }

    /// <summary>An entry of an open room's view changed: <c>(room, change)</c>, right after the room's own <see cref="CollabRoom.Changed"/>.</summary>
    public event Action<CollabRoom, EntryChange>? Changed
    {
        add => _rooms.Changed += value;
        remove => _rooms.Changed -= value;
    }

    /// <summary>A message reached an open room's replica: <c>(room, message)</c>, right after <see cref="CollabRoom.Posted"/>.</summary>
    public event Action<CollabRoom, Message>? Posted
    {
        add => _rooms.Posted += value;
        remove => _rooms.Posted -= value;
    }

    /// <summary>An open room's members changed: <c>(room, presence)</c>, right after <see cref="CollabRoom.PresenceChanged"/>.</summary>
    public event Action<CollabRoom, IReadOnlyList<PresenceEntry>>? PresenceChanged
    {
        add => _rooms.PresenceChanged += value;
        remove => _rooms.PresenceChanged -= value;
    }

    /// <summary>Another connection in an open room sent a signal: <c>(room, signal)</c>, right after <see cref="CollabRoom.Signaled"/>.</summary>
    public event Action<CollabRoom, SignalEvent>? Signaled
    {
        add => _rooms.Signaled += value;
        remove => _rooms.Signaled -= value;
    }

    /// <summary>The open rooms.</summary>
    public IReadOnlyCollection<CollabRoom> Rooms => _rooms.All;

    /// <summary>
    /// Starts connecting, in the background, and returns at once; the client keeps trying (see <see cref="State"/>).
    /// Does nothing when it is already started.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public void Start() => _loop.Start();

    /// <summary>
    /// Starts connecting (see <see cref="Start"/>) and waits until the client is connected, through failed attempts,
    /// for as long as the retry policy allows. Completes at once when the client has connected since it was started.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait only: the client keeps trying until <see cref="StopAsync"/>.</param>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="OperationCanceledException">The client was stopped before it connected.</exception>
    /// <exception cref="Exception">The last attempt's error, when <see cref="CollabClientOptions.ReconnectMaxAttempts"/> ran out.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        Start();
        await _loop.Connected!.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stops the client: closes the connection and stops reconnecting; <see cref="State"/> becomes
    /// <see cref="CollabClientState.Disconnected"/>. Unanswered writes stay queued (and in the queue file) and their
    /// tasks keep waiting: a later <see cref="StartAsync"/> sends them. Rooms stay open.
    /// </summary>
    /// <param name="cancellationToken">Unused; the stop does not wait for the server.</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _loop.StopAsync().ConfigureAwait(false);
        _queue.SaveNow();
    }

    /// <summary>
    /// Opens a room and returns its replica at once: the room is joined now when the client is connected, otherwise
    /// as soon as it is. Writes to it may be made right away; they are queued until the room is joined. Opening a room
    /// that is open returns the same replica (and calls off a leave in progress).
    /// </summary>
    /// <param name="roomId">The room id: 1 or more of <c>A-Z a-z 0-9 . _ ~ -</c>, starting with a letter or digit.</param>
    /// <exception cref="CollabHubException"><c>invalid_room</c>: the id breaks the pattern.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public CollabRoom OpenRoom(string roomId)
    {
        ArgumentNullException.ThrowIfNull(roomId);
        if (!Identifiers.IsRoomId(roomId))
        {
            throw new CollabHubException(ErrorCodes.InvalidRoom, $"{ErrorCodes.InvalidRoom}: roomId must match {Identifiers.RoomIdPattern}");
        }
        return _rooms.Open(roomId);
    }

    /// <summary>
    /// Opens a room (see <see cref="OpenRoom"/>) and waits until its replica is joined and caught up, through
    /// reconnects. Returns at once for a room that was caught up before.
    /// </summary>
    /// <param name="roomId">The room id.</param>
    /// <param name="cancellationToken">Cancels the wait only: the room stays open.</param>
    /// <exception cref="CollabHubException">
    /// <c>invalid_room</c> at once; or the server refused the room for good (<c>invalid_room</c>, <c>too_many_rooms</c>),
    /// which closes it.
    /// </exception>
    /// <exception cref="InvalidOperationException">The client is not started, or stopped before the room was joined.</exception>
    /// <exception cref="OperationCanceledException">The room was left before it was joined.</exception>
    public async Task<CollabRoom> JoinAsync(string roomId, CancellationToken cancellationToken = default)
    {
        var room = OpenRoom(roomId);
        var ended = _loop.RunEnded
            ?? throw new InvalidOperationException("The client is not started: call StartAsync first, or use OpenRoom, which joins when the client connects.");
        var first = await Task.WhenAny(room.Synced, ended).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (first == room.Synced || room.Synced.IsCompleted)
        {
            await room.Synced.ConfigureAwait(false);
            return room;
        }
        throw new InvalidOperationException($"The client stopped before room {roomId} was joined.");
    }

    /// <summary>
    /// Fails every unanswered write with <see cref="CollabHubException"/> code <c>cancelled</c> (rolling back its
    /// optimistic value) and clears the offline queue file; as the JS SDK's <c>discardPending()</c>. A write already
    /// sent may still be applied by the server.
    /// </summary>
    public void DiscardPending() => _queue.DiscardAll();

    /// <summary>The open room with this id, or null.</summary>
    /// <param name="roomId">The room id.</param>
    public CollabRoom? GetRoom(string roomId) => _rooms.Get(roomId);

    /// <summary>Sets a key of an open room; see <see cref="CollabRoom.SetAsync(string, JsonElement, WriteOptions?, CancellationToken)"/>.</summary>
    /// <param name="roomId">An open room.</param>
    /// <param name="key">The key.</param>
    /// <param name="value">Any JSON value.</param>
    /// <param name="options">An expected version and, if the app wants its own, a mutation id.</param>
    /// <param name="cancellationToken">Cancels the wait only: the write stays queued.</param>
    /// <exception cref="CollabHubException"><c>not_joined</c> when the room is not open, and as for the room's method.</exception>
    public Task<WriteResult> SetAsync(string roomId, string key, JsonElement value, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenRoomOrThrow(roomId).SetAsync(key, value, options, cancellationToken);

    /// <summary>Sets a key of an open room to a value serialized as JSON (camelCase); see <see cref="CollabRoom.SetAsync{T}"/>.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="roomId">An open room.</param>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="options">An expected version and, if the app wants its own, a mutation id.</param>
    /// <param name="cancellationToken">Cancels the wait only: the write stays queued.</param>
    /// <exception cref="CollabHubException"><c>not_joined</c> when the room is not open, and as for the room's method.</exception>
    public Task<WriteResult> SetAsync<T>(string roomId, string key, T value, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenRoomOrThrow(roomId).SetAsync(key, value, options, cancellationToken);

    /// <summary>Deletes a key of an open room; see <see cref="CollabRoom.DeleteAsync"/>.</summary>
    /// <param name="roomId">An open room.</param>
    /// <param name="key">The key.</param>
    /// <param name="options">An expected version and, if the app wants its own, a mutation id.</param>
    /// <param name="cancellationToken">Cancels the wait only: the delete stays queued.</param>
    /// <exception cref="CollabHubException"><c>not_joined</c> when the room is not open, and as for the room's method.</exception>
    public Task<WriteResult> DeleteAsync(string roomId, string key, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenRoomOrThrow(roomId).DeleteAsync(key, options, cancellationToken);

    /// <summary>Posts a message with a JSON body to an open room; see <see cref="CollabRoom.PostAsync(JsonElement, string?, CancellationToken)"/>.</summary>
    /// <param name="roomId">An open room.</param>
    /// <param name="body">Any JSON value.</param>
    /// <param name="mutationId">The app's own mutation id; the client makes one when null.</param>
    /// <param name="cancellationToken">Cancels the wait only: the post stays queued.</param>
    /// <exception cref="CollabHubException"><c>not_joined</c> when the room is not open, and as for the room's method.</exception>
    public Task<PostResult> PostAsync(string roomId, JsonElement body, string? mutationId = null, CancellationToken cancellationToken = default) =>
        OpenRoomOrThrow(roomId).PostAsync(body, mutationId, cancellationToken);

    /// <summary>Posts a text message to an open room; see <see cref="CollabRoom.PostAsync(string, string?, CancellationToken)"/>.</summary>
    /// <param name="roomId">An open room.</param>
    /// <param name="text">The text, sent as a JSON string.</param>
    /// <param name="mutationId">The app's own mutation id; the client makes one when null.</param>
    /// <param name="cancellationToken">Cancels the wait only: the post stays queued.</param>
    /// <exception cref="CollabHubException"><c>not_joined</c> when the room is not open, and as for the room's method.</exception>
    public Task<PostResult> PostAsync(string roomId, string text, string? mutationId = null, CancellationToken cancellationToken = default) =>
        OpenRoomOrThrow(roomId).PostAsync(text, mutationId, cancellationToken);

    /// <summary>
    /// Asks the server, on the current connection, what changed in a room after <paramref name="sinceSeq"/>, without
    /// touching the replica: for diagnostics and checks (compare a replica with the store). Not queued, not retried.
    /// </summary>
    /// <param name="roomId">A room joined on the current connection.</param>
    /// <param name="sinceSeq">The position to start after.</param>
    /// <param name="limit">At most this many items; the server's page size when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="InvalidOperationException">The client is not connected.</exception>
    /// <exception cref="CollabHubException">The server refused it, e.g. <c>not_joined</c> while the room is being joined again.</exception>
    public Task<SyncResult> SyncAsync(string roomId, long sinceSeq, int? limit = null, CancellationToken cancellationToken = default)
    {
        var session = _loop.Session;
        if (session is null || session.IsClosed)
        {
            throw new InvalidOperationException("The client is not connected.");
        }
        return session.Connection.SyncAsync(roomId, sinceSeq, limit, cancellationToken);
    }

    /// <summary>
    /// Stops the client (see <see cref="StopAsync"/>), saves the queue file, and fails the tasks of unanswered writes
    /// with <see cref="ObjectDisposedException"/>: those writes may still be applied, by a later client with the same
    /// <see cref="CollabClientOptions.OfflineQueuePath"/>, or not at all without one.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_loop.TryMarkDisposed())
        {
            return;
        }
        await StopAsync().ConfigureAwait(false);
        var disposed = new ObjectDisposedException(nameof(CollabClient), "The client was disposed before the write was answered; it may still be applied.");
        _queue.Close(disposed);
        _rooms.Close(disposed);
        _notifier.Drain();
    }

    // The loop's sessions, passed on to the rooms and the write queue.
    void ISessionListener.SessionOpening(CollabConnection connection, Session session) => _rooms.Route(connection, session);

    void ISessionListener.SessionStarted(Session session)
    {
        _rooms.Attach(session);
        _queue.Pump();
    }

    void ISessionListener.SessionEnded(Session session)
    {
        _rooms.Detach(session);
        _queue.SessionEnded(session);
    }

    /// <summary>The queue let go of a write of <paramref name="room"/>: a room being left closes once its last write is answered.</summary>
    private void WriteRemoved(CollabRoom room) => _rooms.FinishLeaveIfDone(room);

    private CollabRoom OpenRoomOrThrow(string roomId) =>
        GetRoom(roomId) ?? throw new CollabHubException(ErrorCodes.NotJoined, $"{ErrorCodes.NotJoined}: room {roomId} is not open in this client; call OpenRoom or JoinAsync first");
}
