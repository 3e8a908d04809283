using System.Buffers;
using System.IO.Pipelines;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// One connection to Redis with pipelining: any number of callers send commands without waiting for each other;
/// a writer loop writes whatever has gathered in one batch, and a reader loop hands each reply to the oldest
/// command still waiting (Redis answers in order).
/// </summary>
/// <remarks>
/// <para>
/// <b>Bounded, and fails fast.</b> At most <see cref="RedisConnectionOptions.MaxPendingCommands"/> commands may be
/// queued or awaiting their reply, and at most <see cref="RedisConnectionOptions.MaxOutgoingBytes"/> bytes of them
/// may be waiting to be written (one command larger than that is accepted when nothing else is waiting). A command
/// beyond either limit is not queued and does not wait for room: its task fails at once with
/// <see cref="RedisBackpressureException"/>, and nothing of it is sent. A slow or stalled Redis thus shows up as
/// quick, countable failures instead of memory growth and ever longer waits.
/// </para>
/// <para>
/// <b>Failure.</b> When the connection drops (the server closes it, a read or write fails, a reply breaks the
/// protocol, or Redis owes a reply and sends nothing for twice <see cref="RedisConnectionOptions.KeepAlive"/>), every
/// command still pending fails with <see cref="RedisConnectionException"/> and <see cref="Closed"/> completes. A
/// connection is never reopened; <see cref="RedisClient"/> makes a new one.
/// </para>
/// <para>
/// Error replies fail only their own command, with <see cref="RedisServerException"/>. Replies complete their tasks
/// asynchronously (never inline on the reader loop), so a caller's continuation cannot stall the connection.
/// </para>
/// </remarks>
internal sealed partial class RedisConnection : IAsyncDisposable
{
    private const int ShrinkBufferAbove = 1024 * 1024;

    private readonly Stream _stream;
    private readonly RedisConnectionOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly RedisClientStats? _stats;
    private readonly Func<RespValue, bool>? _onPush;
    private readonly string _role;

    private readonly Lock _sync = new();
    private readonly Queue<PendingCommand> _pending = new();
    private readonly SemaphoreSlim _writeSignal = new(0);
    private readonly TaskCompletionSource<Exception> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _closing = new(); // ends a read or write in progress, whatever the stream

    // Double buffering: callers append to _outgoing under _sync while the writer loop writes _sending, then they swap.
    private ArrayBufferWriter<byte> _outgoing = new(4096);
    private ArrayBufferWriter<byte> _sending = new(4096);
    private long _unsentBytes;
    private bool _writeScheduled;
    private long _waitingSince; // when the oldest pending command began waiting, or bytes last arrived
    private Exception? _closedReason;
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;
    private ITimer? _heartbeat;

    private RedisConnection(Stream stream, RedisConnectionOptions options, ILogger logger, TimeProvider time, RedisClientStats? stats, Func<RespValue, bool>? onPush, string role)
    {
        _stream = stream;
        _options = options;
        _logger = logger;
        _time = time;
        _stats = stats;
        _onPush = onPush;
        _role = role;
    }

    /// <summary>Completes, with the reason, once the connection has closed for any cause.</summary>
    public Task<Exception> Closed => _closed.Task;

    public bool IsOpen => Volatile.Read(ref _closedReason) is null;

    /// <summary>Commands queued or awaiting their reply.</summary>
    public int PendingCount
    {
        get
        {
            lock (_sync)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>
    /// Opens a stream through <paramref name="streams"/> and runs the handshake (AUTH, SELECT, CLIENT SETNAME, then a
    /// PING that proves the server answers and accepts us), all within the connect timeout. Throws
    /// <see cref="RedisConnectionException"/> if any of that fails.
    /// </summary>
    /// <param name="onPush">
    /// For a subscriber: sees every reply first, on the reader loop, and returns true for those that are pushed
    /// messages rather than replies to a command. Bulk strings in them are views of the read buffer, valid only
    /// during the call. Replies it declines are copied and matched to commands as usual.
    /// </param>
    /// <param name="role">What the connection is for, in logs: "commands" or "subscriber".</param>
    public static async Task<RedisConnection> ConnectAsync(
        RedisConnectionOptions options,
        IRedisStreamFactory streams,
        ILogger logger,
        TimeProvider time,
        RedisClientStats? stats = null,
        Func<RespValue, bool>? onPush = null,
        string role = "commands",
        CancellationToken cancellationToken = default)
    {
        Stream stream;
        try
        {
            stream = await streams.ConnectAsync(options, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new RedisConnectionException($"Could not connect to Redis at {string.Join(",", options.EndPoints)}: {ex.Message}", ex);
        }

        var connection = new RedisConnection(stream, options, logger, time, stats, onPush, role);
        connection.Start();
        try
        {
            await connection.HandshakeAsync(cancellationToken);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        return connection;
    }

    /// <summary>
    /// Sends a command. The task completes with its reply, or fails with <see cref="RedisServerException"/> (an error
    /// reply), <see cref="RedisConnectionException"/> (the connection is or went down) or, at once and without
    /// sending anything, <see cref="RedisBackpressureException"/>.
    /// </summary>
    public Task<RespValue> ExecuteAsync(string command, params ReadOnlySpan<RedisArg> args) => Send(command, args, expectedReplies: 1);

    /// <summary>
    /// Sends a command that Redis answers with <paramref name="expectedReplies"/> replies (SUBSCRIBE with several
    /// channels answers once per channel); the task completes with the last. An error reply ends the command at
    /// once: Redis rejects such a command as a whole, with one error.
    /// </summary>
    internal Task<RespValue> Send(string command, ReadOnlySpan<RedisArg> args, int expectedReplies)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentOutOfRangeException.ThrowIfLessThan(expectedReplies, 1);
        var length = RespWriter.GetCommandLength(command, args);
        var pending = new PendingCommand(command, expectedReplies);
        string? refusal = null;
        lock (_sync)
        {
            if (_closedReason is { } reason)
            {
                return Task.FromException<RespValue>(new RedisConnectionException($"The Redis connection is closed: {reason.Message}", reason));
            }
            if (_pending.Count >= _options.MaxPendingCommands)
            {
                refusal = $"{_pending.Count} commands are already pending on the Redis {_role} connection (maxPendingCommands={_options.MaxPendingCommands}); {command} was not sent.";
            }
            else if (_unsentBytes > 0 && _unsentBytes + length > _options.MaxOutgoingBytes)
            {
                refusal = $"{_unsentBytes} bytes are already waiting to be written to the Redis {_role} connection (maxOutgoingBytes={_options.MaxOutgoingBytes}); {command} was not sent.";
            }
            else
            {
                RespWriter.WriteCommand(_outgoing, command, args);
                _unsentBytes += length;
                if (_pending.Count == 0)
                {
                    Volatile.Write(ref _waitingSince, _time.GetTimestamp());
                }
                _pending.Enqueue(pending);
                if (!_writeScheduled)
                {
                    _writeScheduled = true;
                    _writeSignal.Release();
                }
            }
        }
        if (refusal is not null)
        {
            _stats?.CommandRejected();
            return Task.FromException<RespValue>(new RedisBackpressureException(refusal));
        }
        _stats?.CommandSent();
        return pending.Completion.Task;
    }

    /// <summary>Closes the connection; pending commands fail with <see cref="RedisConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Close(new RedisConnectionException($"The Redis {_role} connection was closed by this client."));
        // _closing is not disposed: another thread's Close may still cancel it, and it holds nothing to release.
        await Task.WhenAll(_readLoop, _writeLoop);
    }

    /// <summary>Closes the connection for <paramref name="reason"/> (a test's or a supervisor's way to drop it).</summary>
    internal void Abort(Exception reason) => Close(reason);

    private void Start()
    {
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
        if (_options.KeepAlive > TimeSpan.Zero)
        {
            _heartbeat = _time.CreateTimer(_ => Heartbeat(), null, _options.KeepAlive, _options.KeepAlive);
        }
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        // Pipelined: one round trip. If AUTH fails, what follows fails too (NOAUTH); AUTH's own error is reported.
        Task<RespValue>? auth = null, select = null, setName = null;
        if (_options.Password is { } password)
        {
            auth = _options.User is { } user ? ExecuteAsync("AUTH", user, password) : ExecuteAsync("AUTH", password);
        }
        if (_options.DefaultDatabase is { } database)
        {
            select = ExecuteAsync("SELECT", database);
        }
        if (_options.ClientName is { } name)
        {
            setName = ExecuteAsync("CLIENT", "SETNAME", name);
        }
        var ping = ExecuteAsync("PING");
        var all = Task.WhenAll(new[] { auth, select, setName, ping }.OfType<Task<RespValue>>());
        try
        {
            await all.WaitAsync(_options.ConnectTimeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new RedisConnectionException($"Redis did not answer the handshake within {_options.ConnectTimeout.TotalMilliseconds:0} ms.");
        }
        catch (RedisException)
        {
            // Looked at one by one below, in the order that names the real cause.
        }
        if (ServerError(auth) is { } authError)
        {
            throw new RedisConnectionException($"Redis refused the credentials{(_options.User is null ? "" : $" of user '{_options.User}'")}: {authError.Message}", authError);
        }
        if (ServerError(select) is { } selectError)
        {
            throw new RedisConnectionException($"Redis refused SELECT {_options.DefaultDatabase}: {selectError.Message}", selectError);
        }
        if (ServerError(setName) is { } setNameError)
        {
            // Some Redis-compatible servers lack CLIENT SETNAME; the name is only a convenience for operators.
            LogSetNameFailed(_role, setNameError.Message);
        }
        if (ServerError(ping) is { } pingError)
        {
            throw new RedisConnectionException($"Redis refused PING after connecting (is a password needed?): {pingError.Message}", pingError);
        }
        // Anything else that failed failed for the connection's sake; every command carries the same reason.
        if (new[] { auth, select, setName, ping }.FirstOrDefault(t => t is { IsFaulted: true }) is { } failed)
        {
            throw failed.Exception!.InnerException!;
        }
    }

    private static RedisServerException? ServerError(Task<RespValue>? task) =>
        task is { IsFaulted: true } ? task.Exception!.InnerException as RedisServerException : null;

    private async Task WriteLoopAsync()
    {
        while (true)
        {
            await _writeSignal.WaitAsync();
            ArrayBufferWriter<byte> batch;
            lock (_sync)
            {
                if (_closedReason is not null)
                {
                    return;
                }
                batch = _outgoing;
                _outgoing = _sending;
                _sending = batch;
                _writeScheduled = false;
            }
            try
            {
                await _stream.WriteAsync(batch.WrittenMemory, _closing.Token);
                await _stream.FlushAsync(_closing.Token);
            }
            catch (Exception ex)
            {
                Close(new RedisConnectionException($"Writing to the Redis {_role} connection failed: {ex.Message}", ex));
                return;
            }
            lock (_sync)
            {
                _unsentBytes -= batch.WrittenCount;
                if (batch.Capacity > ShrinkBufferAbove)
                {
                    // One large command must not pin a large buffer for the life of the connection.
                    _sending = new ArrayBufferWriter<byte>(4096);
                }
                else
                {
                    batch.ResetWrittenCount();
                }
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        var reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
        var parser = new RespParser { MaxReplyBytes = _options.MaxReplyBytes, BorrowBulkStrings = _onPush is not null };
        Exception reason;
        try
        {
            long needed = 0;
            while (true)
            {
                // A large bulk string declares its length up front: wait for all of it rather than reparsing per packet.
                var result = needed > 0 ? await reader.ReadAtLeastAsync((int)needed, _closing.Token) : await reader.ReadAsync(_closing.Token);
                var buffer = result.Buffer;
                // Any bytes count as a sign of life: a large reply still arriving is not a dead connection.
                Volatile.Write(ref _waitingSince, _time.GetTimestamp());
                while (parser.TryParse(ref buffer, out var reply))
                {
                    OnReply(reply);
                }
                needed = parser.BytesNeeded;
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    reason = new RedisConnectionException(buffer.IsEmpty
                        ? $"Redis closed the {_role} connection."
                        : $"Redis closed the {_role} connection in the middle of a reply.");
                    break;
                }
            }
        }
        catch (RedisProtocolException ex)
        {
            reason = new RedisConnectionException($"Redis broke the protocol on the {_role} connection: {ex.Message}", ex);
        }
        catch (Exception ex)
        {
            reason = new RedisConnectionException($"Reading from the Redis {_role} connection failed: {ex.Message}", ex);
        }
        Close(reason);
        await reader.CompleteAsync();
    }

    private void OnReply(RespValue reply)
    {
        if (_onPush is not null)
        {
            if (_onPush(reply))
            {
                return;
            }
            // Its bulk strings point into the read buffer, which moves on before the caller's continuation runs.
            reply = reply.Detach();
        }
        PendingCommand? done = null;
        lock (_sync)
        {
            if (!_pending.TryPeek(out var head))
            {
                throw new RedisProtocolException($"Redis sent a reply that no command was waiting for: {reply}");
            }
            if (reply.IsError || --head.RepliesLeft == 0)
            {
                _pending.Dequeue();
                done = head;
            }
        }
        if (done is null)
        {
            return;
        }
        if (reply.IsError)
        {
            done.Completion.TrySetException(new RedisServerException(reply.AsString()!));
        }
        else
        {
            done.Completion.TrySetResult(reply);
        }
    }

    // Runs every KeepAlive: an idle connection gets a PING, so a peer that vanished is noticed; a connection that
    // has owed a reply for two periods is given up on.
    private void Heartbeat()
    {
        bool idle;
        TimeSpan waited;
        lock (_sync)
        {
            if (_closedReason is not null)
            {
                return;
            }
            idle = _pending.Count == 0;
            waited = _time.GetElapsedTime(Volatile.Read(ref _waitingSince));
        }
        if (idle)
        {
            _ = ExecuteAsync("PING").ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        else if (waited > 2 * _options.KeepAlive)
        {
            Close(new RedisConnectionException($"Redis has not answered on the {_role} connection for {waited.TotalSeconds:0.#} s (keepAlive={_options.KeepAlive.TotalSeconds:0} s)."));
        }
    }

    private void Close(Exception reason)
    {
        PendingCommand[] failed;
        lock (_sync)
        {
            if (_closedReason is not null)
            {
                return;
            }
            _closedReason = reason;
            failed = [.. _pending];
            _pending.Clear();
            _unsentBytes = 0;
        }
        _heartbeat?.Dispose();
        _writeSignal.Release(); // wakes the writer loop to see it is over
        try
        {
            _closing.Cancel();
            _stream.Dispose();
        }
        catch (Exception ex)
        {
            LogDisposeFailed(ex, _role);
        }
        LogClosed(_role, reason.Message, failed.Length);
        foreach (var pending in failed)
        {
            pending.Completion.TrySetException(new RedisConnectionException(
                $"The Redis {_role} connection was lost before {pending.Command} was answered; Redis may or may not have carried it out. {reason.Message}", reason));
        }
        _closed.TrySetResult(reason);
    }

    private sealed class PendingCommand(string command, int expectedReplies)
    {
        public string Command { get; } = command;

        public int RepliesLeft { get; set; } = expectedReplies;

        public TaskCompletionSource<RespValue> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = 4020, Level = LogLevel.Debug, Message = "Redis {Role} connection closed ({Reason}); {PendingCount} pending commands failed")]
    private partial void LogClosed(string role, string reason, int pendingCount);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Debug, Message = "CLIENT SETNAME failed on the Redis {Role} connection, going on without a name: {Error}")]
    private partial void LogSetNameFailed(string role, string error);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Debug, Message = "Disposing the stream of the Redis {Role} connection failed")]
    private partial void LogDisposeFailed(Exception exception, string role);
}
