using System.Collections.Concurrent;
using System.Diagnostics;
using CollabHub.Bench.Measurement;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Driver;

/// <summary>Where client number i connects and what it joins: its user name, its room, the instance.</summary>
internal readonly record struct ClientPlan(string Name, string RoomId, int Instance = 0, Uri? Url = null);

/// <summary>
/// Many clients of one system, connected and joined in parallel (64 at a time) under a deadline; the time each took
/// to connect and join goes into <see cref="ConnectLatency"/>. Clients that close by themselves are counted.
/// </summary>
internal sealed class ClientSet : IAsyncDisposable
{
    private const int Parallelism = 64;
    private readonly ConcurrentDictionary<int, IBenchClient> _clients = new();
    private int _failed;
    private int _dropped;

    public LatencyHistogram ConnectLatency { get; } = new();

    /// <summary>The joined clients in the order of their numbers (a client that failed leaves no gap).</summary>
    public IReadOnlyList<IBenchClient> Clients => _clients.OrderBy(c => c.Key).Select(c => c.Value).ToList();

    /// <summary>The joined clients with their numbers, as given to the plan.</summary>
    public IEnumerable<KeyValuePair<int, IBenchClient>> Numbered => _clients.OrderBy(c => c.Key);

    public int Joined => _clients.Count;

    public int Failed => _failed;

    /// <summary>Clients that had joined and then lost their connection.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>The first error a client met, for the report.</summary>
    public string? FirstError { get; private set; }

    /// <summary>
    /// Connects clients <paramref name="from"/> to <paramref name="to"/> − 1 as <paramref name="plan"/> says, each
    /// set up by <paramref name="configure"/> (event handlers) before it connects. Stops starting new ones at the
    /// deadline. Returns how long it took; says how far it got every few seconds.
    /// </summary>
    public async Task<TimeSpan> ConnectAsync(Deployment deployment, int from, int to, Func<int, ClientPlan> plan, Action<int, IBenchClient>? configure, TimeSpan deadline, Action<string> progress)
    {
        using var cancel = new CancellationTokenSource(deadline);
        var clock = Stopwatch.StartNew();
        using var reporter = new Timer(_ => progress($"connected and joined {Joined:#,0} of {to:#,0}{(Failed > 0 ? $", {Failed} failed" : "")}"), null, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3));
        try
        {
            await Parallel.ForAsync(from, to, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancel.Token }, async (i, token) =>
            {
                var p = plan(i);
                var client = deployment.Client(p.Name, p.Instance, p.Url);
                configure?.Invoke(i, client);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await client.ConnectAsync(token);
                    await client.JoinAsync(p.RoomId, null, token);
                    ConnectLatency.Record((long)Stopwatch.GetElapsedTime(started).TotalMicroseconds);
                    client.Closed += _ => Interlocked.Increment(ref _dropped);
                    _clients[i] = client;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancel.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _failed);
                    FirstError ??= ex.GetBaseException().Message;
                    await DisposeQuietlyAsync(client);
                }
                catch (OperationCanceledException)
                {
                    await DisposeQuietlyAsync(client);
                    throw;
                }
            });
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            progress($"deadline of {deadline.TotalSeconds:0} s reached: {Joined:#,0} of {to:#,0} joined");
        }
        return clock.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(_clients.Values, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (client, _) => await DisposeQuietlyAsync(client));
        _clients.Clear();
    }

    private static async Task DisposeQuietlyAsync(IBenchClient client)
    {
        try
        {
            await client.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception)
        {
            // Closing a client whose server is gone or that never connected: nothing to keep.
        }
    }
}
