using System.Text.Json;
using CollabHub.Protocol;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace CollabHub.Client;

/// <summary>
/// One connection to a CollabHub server, and nothing more: typed calls for the whole v1 contract and typed events,
/// over SignalR's <see cref="HubConnection"/> on the transports of <see cref="CollabClientOptions.Transports"/>
/// (negotiated, or a direct WebSocket with <see cref="CollabClientOptions.SkipNegotiation"/>). It does not reconnect, keeps no replica and no write queue, and sends a call only once;
/// use <see cref="CollabClient"/> for that. Useful for tools, tests and checks of the wire contract. Errors the hub
/// reports come back as <see cref="CollabHubException"/> with a stable code.
/// </summary>
/// <example>
/// <code>
/// await using var connection = new CollabConnection(new CollabClientOptions { Url = new("http://localhost:5000/hubs/collab"), Name = "ada" });
/// connection.Changed += (roomId, entry) => Console.WriteLine($"{entry.Key} = {entry.Value}");
/// await connection.StartAsync();
/// var joined = await connection.JoinAsync("demo");
/// await connection.SetAsync("demo", "title", "Planning");
/// </code>
/// </example>
public sealed class CollabConnection : IAsyncDisposable
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HubConnection _connection;
    private readonly Uri _url;
    private readonly TimeSpan _connectTimeout;

    /// <summary>Creates a connection; nothing connects until <see cref="StartAsync"/>.</summary>
    /// <param name="options">
    /// Where, how and as whom to connect: <see cref="CollabClientOptions.Url"/> to
    /// <see cref="CollabClientOptions.LoggerFactory"/>; the other options concern <see cref="CollabClient"/> only.
    /// </param>
    /// <exception cref="ArgumentException">The connection options are invalid (for example, no absolute <see cref="CollabClientOptions.Url"/>).</exception>
    public CollabConnection(CollabClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            options.ValidateConnection();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException(ex.Message, nameof(options));
        }
        var url = options.Url!;
        if (options.Name is { } name)
        {
            url = new UriBuilder(url) { Query = AppendQuery(url.Query, "name", name) }.Uri;
        }
        _url = url;
        _connectTimeout = options.ConnectTimeout;

        var builder = new HubConnectionBuilder().WithUrl(url, options.Transports, http =>
        {
            http.SkipNegotiation = options.SkipNegotiation;
            if (options.AccessTokenProvider is { } tokens)
            {
                http.AccessTokenProvider = () => tokens(CancellationToken.None).AsTask();
            }
            foreach (var (header, value) in options.Headers)
            {
                http.Headers[header] = value;
            }
            http.HttpMessageHandlerFactory = options.HttpMessageHandlerFactory;
            http.WebSocketConfiguration = options.WebSocketConfiguration;
            // The transport's and the hub's buffers pause reading at this size, and a message must fit in them whole:
            // room for the largest answer a server sends (Join/Sync pages are bounded by its MaxPageBytes, 1 MiB of
            // values by default, which the envelope and JSON escaping grow).
            http.TransportMaxBufferSize = CollabClient.DefaultMaxReceiveBytes;
            http.ApplicationMaxBufferSize = CollabClient.DefaultMaxReceiveBytes;
            options.ConfigureHttpConnection?.Invoke(http);
        });
        if (options.LoggerFactory is { } loggerFactory)
        {
            builder.Services.AddSingleton(loggerFactory);
        }
        _connection = builder.Build();
        _connection.On<string, Entry>(HubEvents.Changed, (roomId, entry) => Changed?.Invoke(roomId, entry));
        _connection.On<string, Message>(HubEvents.Posted, (roomId, message) => Posted?.Invoke(roomId, message));
        _connection.On<string, SignalEvent>(HubEvents.Signaled, (roomId, signal) => Signaled?.Invoke(roomId, signal));
        _connection.On<string, PresenceDelta>(HubEvents.PresenceDelta, (roomId, delta) => PresenceDelta?.Invoke(roomId, delta));
        _connection.On<string, AccessChange>(HubEvents.AccessChanged, (roomId, change) => AccessChanged?.Invoke(roomId, change));
        _connection.Closed += error =>
        {
            Closed?.Invoke(error);
            return Task.CompletedTask;
        };
    }

    /// <summary>An entry of a joined room was set or deleted: <c>(roomId, entry)</c>.</summary>
    public event Action<string, Entry>? Changed;

    /// <summary>A message was posted to a joined room: <c>(roomId, message)</c>.</summary>
    public event Action<string, Message>? Posted;

    /// <summary>Another connection in a joined room sent a signal: <c>(roomId, signal)</c>.</summary>
    public event Action<string, SignalEvent>? Signaled;

    /// <summary>A joined room's members changed: <c>(roomId, delta)</c>, coalesced by the server.</summary>
    public event Action<string, PresenceDelta>? PresenceDelta;

    /// <summary>
    /// This connection's role in a joined room changed: <c>(roomId, change)</c>. A role of <see cref="RoomRoles.None"/>
    /// means the server took the connection out of the room.
    /// </summary>
    public event Action<string, AccessChange>? AccessChanged;

    /// <summary>The connection ended; the argument is the error, or null after <see cref="StopAsync"/>.</summary>
    public event Action<Exception?>? Closed;

    /// <summary>Whether the connection is up now.</summary>
    public bool IsConnected => _connection.State == HubConnectionState.Connected;

    /// <summary>
    /// Connects (negotiating unless <see cref="CollabClientOptions.SkipNegotiation"/>) and completes the SignalR
    /// handshake, within <see cref="CollabClientOptions.ConnectTimeout"/>.
    /// </summary>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <exception cref="TimeoutException">The attempt took longer than <see cref="CollabClientOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="HttpRequestException">The server answered the negotiate request with an error, such as 401 (<see cref="HttpRequestException.StatusCode"/>).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(_connectTimeout);
        try
        {
            await _connection.StartAsync(attempt.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (attempt.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Connecting to {_url.GetLeftPart(UriPartial.Path)} took longer than {_connectTimeout}.");
        }
    }

    /// <summary>Closes the connection cleanly; <see cref="Closed"/> follows with a null error.</summary>
    /// <param name="cancellationToken">Cancels the wait for a clean close.</param>
    public Task StopAsync(CancellationToken cancellationToken = default) => _connection.StopAsync(cancellationToken);

    /// <summary>Joins a room: a full snapshot, or with <paramref name="sinceSeq"/> only what changed after it.</summary>
    /// <param name="roomId">The room.</param>
    /// <param name="sinceSeq">The last seq of this room the caller has applied.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<JoinResult> JoinAsync(string roomId, long? sinceSeq = null, CancellationToken cancellationToken = default) =>
        InvokeAsync<JoinResult>(HubMethods.Join, new JoinRequest(roomId, sinceSeq), cancellationToken);

    /// <summary>Leaves a room; its events stop.</summary>
    /// <param name="roomId">The room.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task LeaveAsync(string roomId, CancellationToken cancellationToken = default) =>
        InvokeAsync(HubMethods.Leave, new LeaveRequest(roomId), cancellationToken);

    /// <summary>Sets a key to a JSON value; completes once the write is durable.</summary>
    /// <param name="roomId">A joined room.</param>
    /// <param name="key">The key.</param>
    /// <param name="value">Any JSON value.</param>
    /// <param name="options">Mutation id and expected version, if any.</param>
    /// <param name="cancellationToken">Cancels the wait (the write may still be applied).</param>
    public Task<WriteResult> SetAsync(string roomId, string key, JsonElement value, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        InvokeAsync<WriteResult>(HubMethods.Set, new SetRequest(roomId, key, value, options?.MutationId, options?.ExpectedVersion), cancellationToken);

    /// <summary>Sets a key to a value serialized as JSON (camelCase); completes once the write is durable.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="roomId">A joined room.</param>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="options">Mutation id and expected version, if any.</param>
    /// <param name="cancellationToken">Cancels the wait (the write may still be applied).</param>
    public Task<WriteResult> SetAsync<T>(string roomId, string key, T value, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        SetAsync(roomId, key, JsonSerializer.SerializeToElement(value, Json), options, cancellationToken);

    /// <summary>Deletes a key (leaving a tombstone); completes once the delete is durable.</summary>
    /// <param name="roomId">A joined room.</param>
    /// <param name="key">The key.</param>
    /// <param name="options">Mutation id and expected version, if any.</param>
    /// <param name="cancellationToken">Cancels the wait (the delete may still be applied).</param>
    public Task<WriteResult> DeleteAsync(string roomId, string key, WriteOptions? options = null, CancellationToken cancellationToken = default) =>
        InvokeAsync<WriteResult>(HubMethods.Delete, new DeleteRequest(roomId, key, options?.MutationId, options?.ExpectedVersion), cancellationToken);

    /// <summary>
    /// Sets and deletes several keys at once, all or none; completes once the batch is durable. A failed
    /// compare-and-set in any operation is a result with <see cref="BatchResult.Conflict"/>, and nothing is stored.
    /// </summary>
    /// <param name="roomId">A joined room.</param>
    /// <param name="ops">The operations (<see cref="BatchOp.SetOp"/>, <see cref="BatchOp.DeleteOp"/>), each key at most once.</param>
    /// <param name="mutationId">Makes a retry return the first result instead of applying the batch again.</param>
    /// <param name="cancellationToken">Cancels the wait (the batch may still be applied).</param>
    public Task<BatchResult> BatchAsync(string roomId, IReadOnlyList<BatchOp> ops, string? mutationId = null, CancellationToken cancellationToken = default) =>
        InvokeAsync<BatchResult>(HubMethods.Batch, new BatchRequest(roomId, ops, mutationId), cancellationToken);

    /// <summary>Posts a message with a JSON body; completes once it is durable.</summary>
    /// <param name="roomId">A joined room.</param>
    /// <param name="body">Any JSON value.</param>
    /// <param name="mutationId">Makes a retry return the first post instead of posting again.</param>
    /// <param name="cancellationToken">Cancels the wait (the post may still be applied).</param>
    public Task<PostResult> PostAsync(string roomId, JsonElement body, string? mutationId = null, CancellationToken cancellationToken = default) =>
        InvokeAsync<PostResult>(HubMethods.Post, new PostRequest(roomId, body, mutationId), cancellationToken);

    /// <summary>Posts a text message; completes once it is durable.</summary>
    /// <param name="roomId">A joined room.</param>
    /// <param name="text">The message text, sent as a JSON string.</param>
    /// <param name="mutationId">Makes a retry return the first post instead of posting again.</param>
    /// <param name="cancellationToken">Cancels the wait (the post may still be applied).</param>
    public Task<PostResult> PostAsync(string roomId, string text, string? mutationId = null, CancellationToken cancellationToken = default) =>
        PostAsync(roomId, JsonSerializer.SerializeToElement(text, Json), mutationId, cancellationToken);

    /// <summary>Asks what changed in a joined room after <paramref name="sinceSeq"/>.</summary>
    /// <param name="roomId">A joined room.</param>
    /// <param name="sinceSeq">The last seq the caller has applied.</param>
    /// <param name="limit">At most this many items; the server's page size when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<SyncResult> SyncAsync(string roomId, long sinceSeq, int? limit = null, CancellationToken cancellationToken = default) =>
        InvokeAsync<SyncResult>(HubMethods.Sync, new SyncRequest(roomId, sinceSeq, limit), cancellationToken);

    /// <summary>Sends an ephemeral payload to the room's other connections; never stored.</summary>
    /// <param name="roomId">A joined room.</param>
    /// <param name="payload">Any JSON value.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task SignalAsync(string roomId, JsonElement payload, CancellationToken cancellationToken = default) =>
        InvokeAsync(HubMethods.Signal, new SignalRequest(roomId, payload), cancellationToken);

    /// <summary>Closes the connection and releases it.</summary>
    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private async Task<T> InvokeAsync<T>(string method, object request, CancellationToken cancellationToken)
    {
        try
        {
            return await _connection.InvokeAsync<T>(method, request, cancellationToken).ConfigureAwait(false);
        }
        catch (HubException ex)
        {
            throw ToCollabException(ex);
        }
    }

    private async Task InvokeAsync(string method, object request, CancellationToken cancellationToken)
    {
        try
        {
            await _connection.InvokeAsync(method, request, cancellationToken).ConfigureAwait(false);
        }
        catch (HubException ex)
        {
            throw ToCollabException(ex);
        }
    }

    internal static CollabHubException ToCollabException(HubException ex)
    {
        var (code, text) = ErrorCodes.Split(ex.Message);
        return new CollabHubException(code ?? "unknown", text, ex);
    }

    internal static string AppendQuery(string query, string name, string value)
    {
        var pair = $"{Uri.EscapeDataString(name)}={Uri.EscapeDataString(value)}";
        return string.IsNullOrEmpty(query) || query == "?" ? pair : $"{query.TrimStart('?')}&{pair}";
    }
}
