using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace CollabHub.Client.Transport;

/// <summary>
/// A <see cref="ConnectionContext"/> over an open <see cref="ClientWebSocket"/>.
/// </summary>
/// <remarks>
/// Two bounded pipes join the socket to the application (the <c>HubConnection</c>):
/// <list type="bullet">
/// <item>input: a receive loop copies WebSocket payloads into it; the application reads
/// <see cref="Transport"/>.Input. When the application falls behind, the loop's flush waits and
/// the socket is not read (backpressure).</item>
/// <item>output: the application writes <see cref="Transport"/>.Output; a send loop sends each batch
/// it reads as one WebSocket message, text or binary after <see cref="ActiveFormat"/>.</item>
/// </list>
/// When the server closes the socket or it fails, the input is completed (with the error, if any)
/// so that the reader sees the end, and <see cref="ConnectionClosed"/> fires.
/// No lock is taken; shared state changes through <see cref="Interlocked"/> only.
/// The application must not write to or read from <see cref="Transport"/> concurrently with
/// <see cref="DisposeAsync"/> (as <c>HubConnection</c> never does).
/// </remarks>
internal sealed class WebSocketConnection : ConnectionContext,
    IConnectionIdFeature,
    IConnectionItemsFeature,
    IConnectionTransportFeature,
    IConnectionLifetimeFeature,
    ITransferFormatFeature
{
    // The receive loop asks the input pipe for at least this much room per read.
    private const int ReceiveChunkBytes = 4096;

    // After an abort, pending socket operations end promptly; this only guards against a stuck one.
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(1);

    private readonly ClientWebSocket _socket;
    private readonly Uri _url;
    private readonly TimeSpan _closeTimeout;
    private readonly int _maxReceiveMessageBytes;

    // socket -> application
    private readonly Pipe _input;

    // application -> socket
    private readonly Pipe _output;

    private readonly CancellationTokenSource _closedCts = new();
    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IDuplexPipe _transport;
    private IDictionary<object, object?> _items = new ConnectionItems();
    private CancellationToken _connectionClosed;
    private int _activeFormat;

    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;

    // The first reason the connection failed (an Abort reason or a send error); reported to the reader.
    private Exception? _failure;
    private int _aborted;
    private int _closedSignalled;
    private int _disposeStarted;

    public WebSocketConnection(ClientWebSocket socket, Uri url, WebSocketTransportOptions options)
    {
        _socket = socket;
        _url = url;
        _closeTimeout = options.CloseTimeout;
        _maxReceiveMessageBytes = options.MaxReceiveBufferBytes;
        _activeFormat = (int)options.TransferFormat;

        // Resume == pause on the input side: the writer goes on as soon as the reader has consumed
        // anything, so a partly received message below the limit can never stall the pipe.
        _input = new Pipe(new PipeOptions(
            pauseWriterThreshold: options.MaxReceiveBufferBytes,
            resumeWriterThreshold: options.MaxReceiveBufferBytes,
            useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(
            pauseWriterThreshold: options.MaxSendBufferBytes,
            resumeWriterThreshold: options.MaxSendBufferBytes / 2,
            useSynchronizationContext: false));

        _transport = new DuplexPipe(_input.Reader, _output.Writer);
        _connectionClosed = _closedCts.Token;
        ConnectionId = Guid.NewGuid().ToString();
        RemoteEndPoint = new UriEndPoint(url);

        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<ITransferFormatFeature>(this);
        Features = features;
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items;
        set => _items = value ?? throw new ArgumentNullException(nameof(value));
    }

    public override IDuplexPipe Transport
    {
        get => _transport;
        set => _transport = value ?? throw new ArgumentNullException(nameof(value));
    }

    public override CancellationToken ConnectionClosed
    {
        get => _connectionClosed;
        set => _connectionClosed = value;
    }

    public TransferFormat SupportedFormats => TransferFormat.Binary | TransferFormat.Text;

    public TransferFormat ActiveFormat
    {
        get => (TransferFormat)Volatile.Read(ref _activeFormat);
        set
        {
            if (value != TransferFormat.Text && value != TransferFormat.Binary)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The active transfer format must be exactly Text or Binary.");
            }

            Volatile.Write(ref _activeFormat, (int)value);
        }
    }

    private bool IsAborted => Volatile.Read(ref _aborted) != 0;

    /// <summary>Starts the receive and send loops. Called once, right after the socket opened.</summary>
    public void Start()
    {
        _receiveTask = Task.Run(ReceiveLoopAsync);
        _sendTask = Task.Run(SendLoopAsync);
    }

    /// <summary>Tears the socket down at once, without a close handshake. Never throws.</summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        Interlocked.CompareExchange(ref _failure, abortReason ?? new ConnectionAbortedException(), null);
        AbortSocketAndLoops();
        SignalClosed();
    }

    /// <summary>
    /// Closes cleanly: no more application data is accepted, what is queued is sent, then a Close
    /// frame (normal closure); waits up to the close timeout for the server's Close frame, then
    /// aborts. Idempotent, safe on a dead socket, never throws.
    /// </summary>
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0)
        {
            await _disposed.Task.ConfigureAwait(false);
            return;
        }

        try
        {
            // The send loop sends what is left, then the Close frame, then ends.
            TryComplete(_output.Writer);

            // Nobody reads any more: release a receive loop held by backpressure; it then discards
            // data until the server's Close frame arrives.
            TryComplete(_input.Reader);

            var loops = Task.WhenAll(_sendTask, _receiveTask);
            if (!await CompletesWithinAsync(loops, _closeTimeout).ConfigureAwait(false))
            {
                AbortSocketAndLoops();
                await CompletesWithinAsync(loops, AbortGrace).ConfigureAwait(false);
            }
        }
        catch
        {
            // Disposal must not throw; whatever happened, make sure the socket is gone.
            AbortSocketAndLoops();
        }
        finally
        {
            try
            {
                _socket.Dispose();
            }
            catch
            {
                // Already torn down.
            }

            SignalClosed();
            _disposed.TrySetResult();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        long messageBytes = 0;
        byte[]? discard = null;

        try
        {
            while (true)
            {
                if (discard is not null)
                {
                    // The application stopped reading: drop data but keep reading for the Close frame.
                    var dropped = await _socket.ReceiveAsync(discard.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                    if (dropped.MessageType == WebSocketMessageType.Close)
                    {
                        break;
                    }

                    continue;
                }

                // Wait for data without holding pipe memory while the connection is idle.
                var probe = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                if (probe.MessageType == WebSocketMessageType.Close)
                {
                    error = CloseStatusError();
                    break;
                }

                if (probe.EndOfMessage)
                {
                    messageBytes = 0; // an empty message
                    continue;
                }

                var memory = writer.GetMemory(ReceiveChunkBytes);
                var received = await _socket.ReceiveAsync(memory, CancellationToken.None).ConfigureAwait(false);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    error = CloseStatusError();
                    break;
                }

                writer.Advance(received.Count);
                messageBytes += received.Count;

                // A partial message of the pipe's size could never be consumed: fail instead of stalling.
                if (messageBytes > _maxReceiveMessageBytes || (messageBytes == _maxReceiveMessageBytes && !received.EndOfMessage))
                {
                    throw new InvalidDataException(
                        $"The server at '{_url}' sent a WebSocket message larger than MaxReceiveBufferBytes ({_maxReceiveMessageBytes} bytes). " +
                        $"Raise {nameof(WebSocketTransportOptions)}.{nameof(WebSocketTransportOptions.MaxReceiveBufferBytes)} to accept it.");
                }

                if (received.EndOfMessage)
                {
                    messageBytes = 0;
                }

                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCanceled)
                {
                    break; // Abort
                }

                if (flush.IsCompleted)
                {
                    discard = new byte[ReceiveChunkBytes];
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }

        // An abort reason or a send failure explains the end better than the socket error it caused.
        var failure = Volatile.Read(ref _failure) ?? error;
        try
        {
            writer.Complete(failure);
        }
        catch
        {
            // Nothing more to report to.
        }

        SignalClosed();
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;

        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    if (result.IsCanceled)
                    {
                        break; // Abort
                    }

                    if (!buffer.IsEmpty)
                    {
                        var type = ActiveFormat == TransferFormat.Binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
                        await SendMessageAsync(buffer, type).ConfigureAwait(false);
                    }

                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            // Later application writes see a completed pipe instead of piling up.
            TryComplete(reader);
        }

        if (IsAborted)
        {
            return;
        }

        if (error is not null)
        {
            // The socket cannot send; end the receive side too so the reader learns why.
            Interlocked.CompareExchange(ref _failure, error, null);
            AbortSocketAndLoops();
            return;
        }

        // The application completed its output: start the close handshake.
        var state = _socket.State;
        if (state == WebSocketState.Open || state == WebSocketState.CloseReceived)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_closeTimeout);
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, string.Empty, timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                // The socket died or the close timed out (which aborts it); the receive loop reports it.
            }
        }
    }

    private async ValueTask SendMessageAsync(ReadOnlySequence<byte> buffer, WebSocketMessageType type)
    {
        if (buffer.IsSingleSegment)
        {
            await _socket.SendAsync(buffer.First, type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            return;
        }

        // One message, one frame per segment; only the last ends the message.
        var position = buffer.Start;
        buffer.TryGet(ref position, out var current);
        while (buffer.TryGet(ref position, out var next))
        {
            if (!current.IsEmpty)
            {
                await _socket.SendAsync(current, type, endOfMessage: false, CancellationToken.None).ConfigureAwait(false);
            }

            current = next;
        }

        await _socket.SendAsync(current, type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
    }

    private Exception? CloseStatusError()
    {
        var status = _socket.CloseStatus;
        if (status is null or WebSocketCloseStatus.NormalClosure or WebSocketCloseStatus.Empty)
        {
            return null;
        }

        var description = _socket.CloseStatusDescription;
        return new WebSocketException(
            $"The server at '{_url}' closed the WebSocket with status {(int)status.Value} ({status.Value})" +
            (string.IsNullOrEmpty(description) ? "." : $": {description}"));
    }

    private void AbortSocketAndLoops()
    {
        try
        {
            _socket.Abort();
        }
        catch
        {
            // Already gone.
        }

        try
        {
            _output.Reader.CancelPendingRead();
        }
        catch
        {
            // Reader already completed.
        }

        try
        {
            _input.Writer.CancelPendingFlush();
        }
        catch
        {
            // Writer already completed.
        }
    }

    /// <summary>Fires <see cref="ConnectionClosed"/> once, on the thread pool so handlers never run inside a loop.</summary>
    private void SignalClosed()
    {
        if (Interlocked.Exchange(ref _closedSignalled, 1) != 0)
        {
            return;
        }

        ThreadPool.UnsafeQueueUserWorkItem(
            static cts =>
            {
                try
                {
                    cts.Cancel();
                }
                catch
                {
                    // A ConnectionClosed callback threw; nothing here can handle it.
                }
            },
            _closedCts,
            preferLocal: false);
    }

    private static async Task<bool> CompletesWithinAsync(Task task, TimeSpan timeout)
    {
        try
        {
            await task.WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static void TryComplete(PipeWriter writer)
    {
        try
        {
            writer.Complete();
        }
        catch
        {
            // Already completed.
        }
    }

    private static void TryComplete(PipeReader reader)
    {
        try
        {
            reader.Complete();
        }
        catch
        {
            // Already completed.
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
