using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests.Convergence;

/// <summary>
/// Issue 4's convergence test: .NET and JS SDK clients on three instances (one Redis, one SQLite file), all in one room,
/// write overlapping keys and post messages through their queues while a seeded fault schedule cuts and blocks their
/// connections, loses answers, SIGKILLs instances and Redis and restarts them. Once the faults stop, every write must
/// have been answered, every client's confirmed replica must equal the store exactly, every acknowledged write must be
/// in the store once, and every client must have applied the room's positions with no gap and no repeat.
/// </summary>
/// <remarks>
/// The seed is printed (and in the failure message); set <c>CONVERGENCE_SEED</c> to run one schedule again. The report
/// is also written to <c>convergence-report-{provider}.txt</c> beside the test assembly.
/// </remarks>
public sealed partial class ConvergenceTests(ITestOutputHelper output)
{
    private const int Instances = 3;
    private const int DotNetClients = 4;
    private const int JsClients = 3;
    private static readonly string[] Keys = [.. Enumerable.Range(0, 10).Select(i => $"k{i}")];
    private static readonly TimeSpan FaultBudget = TimeSpan.FromSeconds(44);

    /// <summary>After this much of the write phase, extra faults are skipped (the required ones always run).</summary>
    private static readonly TimeSpan FaultDeadline = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan DrainDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CatchUpDeadline = TimeSpan.FromSeconds(15);

    private enum WriteOp
    {
        Set,
        CasSet,
        Delete,
        Post,
        Barrier,
    }

    private sealed record WriteRecord(string Client, string Marker, WriteOp Op, string? Key, JsonElement? Payload, Task<WriteOutcome> Done, double IssuedAt)
    {
        private double _completedAt = double.NaN;

        /// <summary>When the write call completed, in seconds on the write clock (NaN until then).</summary>
        public double CompletedAt => Volatile.Read(ref _completedAt);

        public WriteOutcome? Outcome => Done.IsCompletedSuccessfully ? Done.Result : null;

        public static WriteRecord Start(string client, string marker, WriteOp op, string? key, JsonElement? payload, Task<WriteOutcome> done, Stopwatch clock)
        {
            var record = new WriteRecord(client, marker, op, key, payload, done, clock.Elapsed.TotalSeconds);
            done.ContinueWith(_ => Volatile.Write(ref record._completedAt, clock.Elapsed.TotalSeconds), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return record;
        }

        public bool IsPost => Op is WriteOp.Post or WriteOp.Barrier;

        /// <summary>Took a position in the room: an applied set or delete, or a post.</summary>
        public bool TookSeq => Outcome is { ErrorCode: null } o && (IsPost || o.Applied);

        public override string ToString() => $"{Client} {Op} {Key} {Marker} (issued at {IssuedAt:0.0}s)";
    }

    /// <summary>
    /// On both backplane providers: the stock one delivers nothing while Redis is down and can drop messages right
    /// after it returns; the room seq and gap fill must repair that too.
    /// </summary>
    [Theory]
    [InlineData("CollabHub")]
    [InlineData("SignalR")]
    public async Task DotNet_and_JS_clients_on_three_instances_converge_exactly_once_through_cuts_kills_and_Redis_restarts(string backplaneProvider)
    {
        JsConvergenceClient.AssertNodeInstalled();
        var seed = Environment.GetEnvironmentVariable("CONVERGENCE_SEED") is { Length: > 0 } given
            ? int.Parse(given, System.Globalization.CultureInfo.InvariantCulture)
            : Random.Shared.Next(1, int.MaxValue);
        var report = new StringBuilder();
        var clock = Stopwatch.StartNew();
        void Log(string line)
        {
            lock (report)
            {
                report.AppendLine(line);
            }
            output.WriteLine(line);
        }
        Log($"backplane provider {backplaneProvider}; seed {seed} (run this schedule again with CONVERGENCE_SEED={seed})");

        ConvergenceCluster? cluster = null;
        var clients = new List<IConvergenceClient>();
        try
        {
            cluster = await ConvergenceCluster.StartAsync(Instances, backplaneProvider);
            var clusterUp = clock.Elapsed;
            var roomId = TestClients.NewRoom("converge");
            var starting = new List<Task<IConvergenceClient>>();
            for (var i = 0; i < DotNetClients; i++)
            {
                var (name, instance) = ($"net{i}", i % Instances);
                starting.Add(Task.Run(async () => (IConvergenceClient)await DotNetConvergenceClient.StartAsync(name, instance, cluster.ClientUrl(instance), roomId)));
            }
            for (var i = 0; i < JsClients; i++)
            {
                var (name, instance) = ($"js{i}", (i + 1) % Instances);
                // js0 negotiates (an HTTP request, then the WebSocket); the others go straight to the WebSocket.
                var skipNegotiation = i != 0;
                starting.Add(Task.Run(async () => (IConvergenceClient)await JsConvergenceClient.StartAsync(name, instance, cluster.ClientUrl(instance), roomId, skipNegotiation)));
            }
            try
            {
                clients.AddRange(await Task.WhenAll(starting));
            }
            catch
            {
                clients.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
                throw;
            }
            var startup = clock.Elapsed;
            Log($"room {roomId}; {Instances} instances behind proxies, redis on port {cluster.Redis.Port}; servers up in {clusterUp.TotalSeconds:0.0} s, clients joined {(startup - clusterUp).TotalSeconds:0.0} s later");
            Log("clients: " + string.Join(", ", clients.Select(c => $"{c.Name} ({c.Kind}) -> instance {c.Instance}")));

            var plan = FaultPlan.Make(new Random(seed), Instances, FaultBudget);
            Log($"fault plan ({plan.Count} faults, about {plan.Sum(f => f.Estimate.TotalSeconds):0} s; extras are skipped after {FaultDeadline.TotalSeconds:0} s of writing):");
            foreach (var fault in plan)
            {
                Log($"  {fault}");
            }

            // ---- Writes and faults ----------------------------------------------------------------------------
            var ledger = new ConcurrentQueue<WriteRecord>();
            var writeClock = Stopwatch.StartNew();
            using var stopWriting = new CancellationTokenSource();
            var writers = clients.Select((client, index) => Task.Run(() => WriteLoopAsync(client, new Random(unchecked((seed * 31) + index)), ledger, writeClock, stopWriting.Token))).ToList();
            var runner = new FaultRunner(cluster.Servers, cluster.Proxies, cluster.Redis, writeClock, Log);
            await Task.Delay(TimeSpan.FromSeconds(2));
            await runner.RunAsync(plan, FaultDeadline, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(100));
            Log($"[{writeClock.Elapsed.TotalSeconds,6:0.0}s] faults over; writing 2 s more");
            await Task.Delay(TimeSpan.FromSeconds(2));
            stopWriting.Cancel();
            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(10));
            var writePhase = writeClock.Elapsed;
            Log($"[{writePhase.TotalSeconds,6:0.0}s] writes stopped: {ledger.Count} issued");

            // ---- Quiesce: every instance ready, every queue drained, every write answered -------------------------
            var quiesce = Stopwatch.StartNew();
            await WaitReadyAsync(cluster);
            var stuck = await DrainAsync(clients, ledger);
            if (stuck is not null)
            {
                Assert.Fail($"Writes did not complete within {DrainDeadline.TotalSeconds} s after the faults stopped:\n{stuck}\n\n{report}\n{cluster.ServerOutput()}");
            }
            var drained = quiesce.Elapsed;

            // A last post from every client, now that Redis is up everywhere: a client whose last events were lost in
            // an outage sees a later position (or its own answer) and fills the gap, as the protocol says.
            foreach (var client in clients)
            {
                var body = JsonSerializer.SerializeToElement(new { w = $"barrier-{client.Name}", text = "barrier" });
                ledger.Enqueue(WriteRecord.Start(client.Name, $"barrier-{client.Name}", WriteOp.Barrier, null, body, client.PostAsync(body), writeClock));
            }
            stuck = await DrainAsync(clients, ledger);
            if (stuck is not null)
            {
                Assert.Fail($"The barrier posts did not complete within {DrainDeadline.TotalSeconds} s:\n{stuck}\n\n{report}\n{cluster.ServerOutput()}");
            }

            // ---- The store, read by fresh clients on every instance ---------------------------------------------
            var stores = new List<StoreRead>();
            for (var i = 0; i < Instances; i++)
            {
                stores.Add(await ReadStoreAsync(cluster.Servers[i].HubUrl, roomId, $"auditor{i}"));
            }
            var store = stores[0];
            var failures = new List<string>();
            for (var i = 0; i < Instances; i++)
            {
                failures.AddRange(stores[i].Problems.Select(p => $"store read on instance {i}: {p}"));
                if (i > 0)
                {
                    failures.AddRange(CompareStores(store, stores[i]).Select(p => $"instance {i} reads the store differently from instance 0: {p}"));
                }
            }

            var lagging = await WaitCaughtUpAsync(clients, store.Seq);
            failures.AddRange(lagging);
            var caughtUp = quiesce.Elapsed;

            // ---- Checks ------------------------------------------------------------------------------------------
            var checks = Stopwatch.StartNew();
            var records = ledger.ToList();
            var snapshots = new Dictionary<string, ReplicaSnapshot>();
            foreach (var client in clients)
            {
                snapshots[client.Name] = await client.SnapshotAsync();
            }
            failures.AddRange(CheckWrites(records, store));
            foreach (var client in clients)
            {
                failures.AddRange(CheckReplica(client, snapshots[client.Name], store));
            }
            failures.AddRange(CheckCoverage(clients, records, snapshots, runner));

            // ---- Report ------------------------------------------------------------------------------------------
            Log("");
            Log($"faults: {runner.Cuts} proxy cuts, {runner.Blocks} proxy blocks, {runner.LostAnswerRounds} lost-answer rounds, {runner.Kills} instance kills (+ restarts), {runner.RedisRestarts} redis restarts, {runner.Skipped} extra fault(s) skipped for time");
            Log("client  kind  inst  writes  applied  conflicts  no-op-del  duplicates  offline  errors  reconnects  seq   applied-steps");
            foreach (var client in clients)
            {
                var mine = records.Where(r => r.Client == client.Name).ToList();
                var snapshot = snapshots[client.Name];
                Log($"{client.Name,-7} {client.Kind,-5} {client.Instance,4}  {mine.Count,6}  {mine.Count(r => r.TookSeq),7}  {mine.Count(r => r.Outcome?.Conflict == true),9}  "
                    + $"{mine.Count(r => r.Op == WriteOp.Delete && r.Outcome is { Applied: false, Conflict: false, ErrorCode: null }),9}  {mine.Count(r => r.Outcome?.Duplicate == true),10}  "
                    + $"{mine.Count(r => r.Outcome?.Offline == true),7}  {mine.Count(r => r.Outcome?.ErrorCode is not null || r.Done.IsFaulted),6}  {snapshot.Reconnects,10}  {snapshot.Seq,5} {snapshot.AppliedSteps,6}"
                    + (snapshot.Notes.Length > 0 ? $"   {snapshot.Notes}" : ""));
            }
            foreach (var client in clients)
            {
                var mine = records.Where(r => r.Client == client.Name && !double.IsNaN(r.CompletedAt)).ToList();
                var online = mine.Where(r => r.Outcome?.Offline == false).Select(r => r.CompletedAt - r.IssuedAt).Order().ToList();
                var duplicates = mine.Where(r => r.Outcome?.Duplicate == true).ToList();
                Log($"  {client.Name}: answer time of writes made online p50 {Percentile(online, 0.5):0.000} s, p99 {Percentile(online, 0.99):0.00} s, max {Percentile(online, 1):0.00} s"
                    + (duplicates.Count > 0 ? "; duplicates answered at " + string.Join(", ", duplicates.GroupBy(r => Math.Floor(r.CompletedAt)).Select(g => $"{g.Key:0}s x{g.Count()}")) : ""));
                var slow = mine.Where(r => r.Outcome?.Offline == false && r.CompletedAt - r.IssuedAt > 3).ToList();
                if (slow.Count > 0)
                {
                    Log($"    slow answers (over 3 s, made online), by second made: " + string.Join(", ", slow.GroupBy(r => Math.Floor(r.IssuedAt)).Select(g => $"{g.Key:0}s x{g.Count()} (up to {g.Max(r => r.CompletedAt - r.IssuedAt):0.0} s{(g.Any(r => r.Outcome?.Duplicate == true) ? ", some duplicates" : "")})")));
                }
            }
            Log($"total: {records.Count} writes ({records.Count(r => r.Op is WriteOp.Set or WriteOp.CasSet)} sets of which {records.Count(r => r.Op == WriteOp.CasSet)} compare-and-set, "
                + $"{records.Count(r => r.Op == WriteOp.Delete)} deletes, {records.Count(r => r.IsPost)} posts), {records.Count(r => r.TookSeq)} applied, "
                + $"{records.Count(r => r.Outcome?.Conflict == true)} conflicts, {records.Count(r => r.Outcome?.Duplicate == true)} answered as duplicates, "
                + $"{records.Count(r => r.Outcome?.Offline == true)} made while disconnected");
            Log($"store: seq {store.Seq}, {store.Entries.Count(e => !e.Value.Deleted)} live keys, {store.Entries.Count(e => e.Value.Deleted)} tombstones, {store.Messages.Count} messages");
            Log($"durations: start-up {startup.TotalSeconds:0.0} s, writes+faults {writePhase.TotalSeconds:0.0} s, drain {drained.TotalSeconds:0.0} s, "
                + $"catch-up {(caughtUp - drained).TotalSeconds:0.0} s, checks {checks.Elapsed.TotalSeconds:0.0} s, total {clock.Elapsed.TotalSeconds:0.0} s");
            Log(failures.Count == 0 ? "RESULT: converged" : $"RESULT: {failures.Count} problem(s)");
            foreach (var failure in failures.Take(200))
            {
                Log($"  - {failure}");
            }
            WriteReportFile(report, backplaneProvider);

            Assert.True(failures.Count == 0, $"The clients did not converge (seed {seed}):\n{report}\n{cluster.ServerOutput()}");
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            WriteReportFile(report, backplaneProvider);
            Assert.Fail($"The convergence test broke (seed {seed}): {ex}\n\n{report}\n{cluster?.ServerOutput()}\n{ConvergenceClientSet.JsStdErr(clients)}");
        }
        finally
        {
            await ConvergenceClientSet.DisposeAllAsync(clients, output);
            if (cluster is not null)
            {
                await cluster.DisposeAsync();
            }
        }
    }

    private static void WriteReportFile(StringBuilder report, string backplaneProvider)
    {
        try
        {
            lock (report)
            {
                File.WriteAllText(Path.Combine(AppContext.BaseDirectory, $"convergence-report-{backplaneProvider}.txt"), report.ToString());
            }
        }
        catch (IOException)
        {
        }
    }

    /// <summary>One client's writes: sets (some compare-and-set), deletes and posts, at random, every 40-200 ms, never waiting for answers.</summary>
    private static async Task WriteLoopAsync(IConvergenceClient client, Random rng, ConcurrentQueue<WriteRecord> ledger, Stopwatch clock, CancellationToken stop)
    {
        var n = 0;
        while (true)
        {
            try
            {
                await Task.Delay(rng.Next(40, 200), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            n++;
            var marker = $"{client.Name}-{n}";
            var roll = rng.NextDouble();
            var key = Keys[rng.Next(Keys.Length)];
            if (roll < 0.45)
            {
                var cas = roll < 0.12;
                var value = JsonSerializer.SerializeToElement(new { w = marker, n = rng.Next(1_000_000) });
                ledger.Enqueue(WriteRecord.Start(client.Name, marker, cas ? WriteOp.CasSet : WriteOp.Set, key, value, client.SetAsync(key, value, cas), clock));
            }
            else if (roll < 0.53)
            {
                ledger.Enqueue(WriteRecord.Start(client.Name, marker, WriteOp.Delete, key, null, client.DeleteAsync(key), clock));
            }
            else
            {
                var body = JsonSerializer.SerializeToElement(new { w = marker, text = $"message {n} from {client.Name}" });
                ledger.Enqueue(WriteRecord.Start(client.Name, marker, WriteOp.Post, null, body, client.PostAsync(body), clock));
            }
        }
    }

    private static async Task WaitReadyAsync(ConvergenceCluster cluster)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        foreach (var server in cluster.Servers)
        {
            while (true)
            {
                try
                {
                    if ((await http.GetAsync(new Uri(server.BaseUrl, "/readyz"))).StatusCode == HttpStatusCode.OK)
                    {
                        break;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                }
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"{server.BaseUrl}readyz did not answer 200 within 20 s after the faults stopped.");
                }
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Waits until every client has nothing pending and every write call has completed; null then, else a description of what is stuck.</summary>
    private static async Task<string?> DrainAsync(IReadOnlyList<IConvergenceClient> clients, ConcurrentQueue<WriteRecord> ledger)
    {
        var deadline = DateTime.UtcNow + DrainDeadline;
        while (true)
        {
            var statuses = new List<(IConvergenceClient Client, ClientStatus Status)>();
            foreach (var client in clients)
            {
                statuses.Add((client, await client.StatusAsync()));
            }
            var incomplete = ledger.Where(r => !r.Done.IsCompleted).ToList();
            if (incomplete.Count == 0 && statuses.All(s => s.Status.Pending == 0))
            {
                return null;
            }
            if (DateTime.UtcNow > deadline)
            {
                var text = new StringBuilder();
                foreach (var (client, status) in statuses)
                {
                    var mine = incomplete.Where(r => r.Client == client.Name).ToList();
                    text.AppendLine($"{client.Name} ({client.Kind}, instance {client.Instance}): state {status.State}, pending {status.Pending}, seq {status.Seq}, "
                        + $"{mine.Count} write call(s) not completed{(mine.Count > 0 ? ": " + string.Join("; ", mine.Take(15)) : "")}"
                        + (status.Unanswered.Count > 0 ? $"; SDK-side unanswered: {string.Join(", ", status.Unanswered.Take(15))}" : ""));
                }
                return text.ToString();
            }
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until every client's replica is at <paramref name="seq"/>; returns the ones that are not.</summary>
    private static async Task<List<string>> WaitCaughtUpAsync(IReadOnlyList<IConvergenceClient> clients, long seq)
    {
        var deadline = DateTime.UtcNow + CatchUpDeadline;
        while (true)
        {
            var behind = new List<string>();
            foreach (var client in clients)
            {
                var status = await client.StatusAsync();
                if (status.Seq != seq)
                {
                    behind.Add($"{client.Name} ({client.Kind}, instance {client.Instance}) is at seq {status.Seq}, the store at {seq} ({CatchUpDeadline.TotalSeconds} s after the last write was answered; state {status.State})");
                }
            }
            if (behind.Count == 0 || DateTime.UtcNow > deadline)
            {
                return behind;
            }
            await Task.Delay(100);
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // The store as a fresh client reads it: Join, then Sync from 0 page by page.
    // -------------------------------------------------------------------------------------------------------------

    private sealed record StoreRead(long Seq, Dictionary<string, Entry> Entries, List<Message> Messages, List<string> Problems);

    private static async Task<StoreRead> ReadStoreAsync(Uri hubUrl, string roomId, string name)
    {
        await using var connection = await TestClients.OpenConnectionAsync(hubUrl, name);
        var problems = new List<string>();

        // Join (a full snapshot) and its continuation pages.
        var join = await connection.JoinAsync(roomId).Within();
        if (!join.Full)
        {
            problems.Add("a Join without sinceSeq did not answer a full snapshot");
        }
        var joined = join.Entries.Where(e => !e.Deleted).ToDictionary(e => e.Key, StringComparer.Ordinal);
        var joinSeq = join.Seq;
        var more = join.HasMore;
        while (more)
        {
            var page = await connection.SyncAsync(roomId, joinSeq).Within();
            foreach (var entry in page.Entries)
            {
                if (entry.Deleted)
                {
                    joined.Remove(entry.Key);
                }
                else
                {
                    joined[entry.Key] = entry;
                }
            }
            joinSeq = page.Seq;
            more = page.HasMore;
        }

        // Everything, from 0.
        var (seq, entries, messages) = await connection.SyncAllAsync(roomId);
        if (joinSeq != seq)
        {
            problems.Add($"Join and its pages reach seq {joinSeq}, Sync from 0 reaches {seq}");
        }
        var live = entries.Values.Where(e => !e.Deleted).ToDictionary(e => e.Key, StringComparer.Ordinal);
        foreach (var key in live.Keys.Union(joined.Keys).Order(StringComparer.Ordinal))
        {
            var a = joined.GetValueOrDefault(key);
            var b = live.GetValueOrDefault(key);
            if (a is null || b is null || a.Version != b.Version || !SameJson(a.Value, b.Value))
            {
                problems.Add($"key {key}: Join says {Show(a)}, Sync from 0 says {Show(b)}");
            }
        }
        for (var i = 1; i < messages.Count; i++)
        {
            if (messages[i].Seq <= messages[i - 1].Seq)
            {
                problems.Add($"Sync from 0 returns message seq {messages[i].Seq} after {messages[i - 1].Seq}");
            }
        }
        return new StoreRead(seq, entries, messages, problems);
    }

    private static IEnumerable<string> CompareStores(StoreRead a, StoreRead b)
    {
        if (a.Seq != b.Seq)
        {
            yield return $"seq {b.Seq} instead of {a.Seq}";
        }
        foreach (var key in a.Entries.Keys.Union(b.Entries.Keys))
        {
            var x = a.Entries.GetValueOrDefault(key);
            var y = b.Entries.GetValueOrDefault(key);
            if (x is null || y is null || x.Version != y.Version || x.Deleted != y.Deleted || !SameJson(x.Value, y.Value))
            {
                yield return $"key {key}: {Show(y)} instead of {Show(x)}";
            }
        }
        if (!a.Messages.Select(m => (m.Seq, m.Id)).SequenceEqual(b.Messages.Select(m => (m.Seq, m.Id))))
        {
            yield return $"{b.Messages.Count} messages instead of {a.Messages.Count}, or different ones";
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // Checks.
    // -------------------------------------------------------------------------------------------------------------

    /// <summary>Every write answered without error; every acknowledged write in the store, once; nothing in the store that no acknowledged write accounts for.</summary>
    private static List<string> CheckWrites(List<WriteRecord> records, StoreRead store)
    {
        var failures = new List<string>();
        foreach (var record in records)
        {
            if (record.Done.IsFaulted)
            {
                failures.Add($"write {record} failed in the harness: {record.Done.Exception?.InnerException?.Message}");
            }
            else if (record.Outcome is { ErrorCode: { } code } failed)
            {
                failures.Add($"write {record} failed with {code}: {failed.Error}");
            }
        }

        // Each position 1..seq belongs to exactly one acknowledged write: none applied twice, none lost, none unknown.
        var bySeq = new Dictionary<long, WriteRecord>();
        foreach (var group in records.Where(r => r.TookSeq).GroupBy(r => r.Outcome!.Seq))
        {
            if (group.Count() > 1)
            {
                failures.Add($"seq {group.Key} was acknowledged to {group.Count()} writes: {string.Join("; ", group)}");
            }
            bySeq[group.Key] = group.First();
            if (group.Key < 1 || group.Key > store.Seq)
            {
                failures.Add($"seq {group.Key} acknowledged to {group.First()} is not in the store (store seq {store.Seq})");
            }
        }
        var unaccounted = Enumerable.Range(1, (int)store.Seq).Select(i => (long)i).Where(s => !bySeq.ContainsKey(s)).ToList();
        if (unaccounted.Count > 0)
        {
            failures.Add($"{unaccounted.Count} position(s) of the store no acknowledged write accounts for (a write applied twice, or one never answered): {string.Join(", ", unaccounted.Take(30))}");
        }

        // Sets and deletes: the answer matches the write; the store has it or a later write of the key.
        foreach (var record in records.Where(r => r.Op is WriteOp.Set or WriteOp.CasSet or WriteOp.Delete && r.Outcome is { ErrorCode: null }))
        {
            var outcome = record.Outcome!;
            var stored = store.Entries.GetValueOrDefault(record.Key!);
            if (outcome.Applied)
            {
                if (outcome.Conflict)
                {
                    failures.Add($"write {record} is applied and a conflict at once");
                }
                var answerMatches = outcome.EntryVersion == outcome.Seq && (record.Op == WriteOp.Delete ? outcome.EntryDeleted : !outcome.EntryDeleted && SameJson(outcome.EntryValue, record.Payload));
                if (!answerMatches)
                {
                    failures.Add($"write {record} was answered with seq {outcome.Seq} but entry v{outcome.EntryVersion} {Json(outcome.EntryValue)} deleted={outcome.EntryDeleted}");
                }
                if (stored is null)
                {
                    failures.Add($"acknowledged write {record} (seq {outcome.Seq}): key {record.Key} is not in the store at all");
                }
                else if (stored.Version < outcome.Seq)
                {
                    failures.Add($"acknowledged write {record} (seq {outcome.Seq}): the store has the older {Show(stored)}");
                }
                else if (stored.Version == outcome.Seq)
                {
                    var same = record.Op == WriteOp.Delete ? stored.Deleted : !stored.Deleted && SameJson(stored.Value, record.Payload);
                    if (!same || stored.By != record.Client)
                    {
                        failures.Add($"acknowledged write {record} (seq {outcome.Seq}): the store has {Show(stored)} by {stored.By} at that version");
                    }
                }
            }
            else if (outcome.Conflict)
            {
                if (record.Op != WriteOp.CasSet || outcome.ExpectedVersion is not { } expected)
                {
                    failures.Add($"write {record} without an expected version was answered with a conflict");
                    continue;
                }
                var current = outcome.EntryVersion is null ? 0 : outcome.EntryVersion.Value;
                var matches = outcome.EntryVersion is null || outcome.EntryDeleted ? expected == 0 || expected == current : expected == current;
                if (matches)
                {
                    failures.Add($"write {record} expected v{expected} and got a conflict with the current entry v{current} deleted={outcome.EntryDeleted}");
                }
            }
            else if (outcome.Superseded)
            {
                // The documented end of a write overtaken while refused: the later write of the key, from the same
                // client, must be the one applied at the seq it reports.
                if (!bySeq.TryGetValue(outcome.Seq, out var later) || later.Client != record.Client || later.Key != record.Key || later.IssuedAt < record.IssuedAt)
                {
                    failures.Add($"write {record} was superseded by seq {outcome.Seq}, which is not a later write of {record.Key} by {record.Client}");
                }
            }
            else if (record.Op != WriteOp.Delete)
            {
                failures.Add($"set {record} was neither applied nor a conflict");
            }
        }

        // Every entry of the store (tombstones too) is the write acknowledged at its version.
        foreach (var entry in store.Entries.Values)
        {
            if (!bySeq.TryGetValue(entry.Version, out var writer))
            {
                failures.Add($"store entry {Show(entry)}: no acknowledged write has seq {entry.Version}");
                continue;
            }
            var same = writer.Key == entry.Key && writer.Client == entry.By
                && (writer.Op == WriteOp.Delete ? entry.Deleted : writer.Op is WriteOp.Set or WriteOp.CasSet && !entry.Deleted && SameJson(entry.Value, writer.Payload));
            if (!same)
            {
                failures.Add($"store entry {Show(entry)} by {entry.By}: seq {entry.Version} was acknowledged to {writer}");
            }
        }

        // Posts: each acknowledged post is exactly one message, at its seq, with its body; and every message is one.
        var posts = records.Where(r => r.IsPost && r.Outcome is { ErrorCode: null }).ToList();
        var messagesByMarker = store.Messages.GroupBy(m => Marker(m.Body)).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        foreach (var post in posts)
        {
            var outcome = post.Outcome!;
            if (!SameJson(outcome.MessageBody, post.Payload) || outcome.EntryVersion != outcome.Seq)
            {
                failures.Add($"post {post} was answered with seq {outcome.Seq} but message {outcome.EntryVersion} {Json(outcome.MessageBody)}");
            }
            var found = messagesByMarker.GetValueOrDefault(post.Marker) ?? [];
            if (found.Count != 1)
            {
                failures.Add($"acknowledged post {post} (seq {outcome.Seq}) is in the store {found.Count} times (seqs {string.Join(", ", found.Select(m => m.Seq))})");
            }
            else if (found[0].Seq != outcome.Seq || found[0].Id != outcome.MessageId || found[0].By != post.Client || !SameJson(found[0].Body, post.Payload))
            {
                failures.Add($"acknowledged post {post} (seq {outcome.Seq}, id {outcome.MessageId}) is stored as seq {found[0].Seq}, id {found[0].Id}, by {found[0].By}, {Json(found[0].Body)}");
            }
        }
        foreach (var message in store.Messages)
        {
            if (!bySeq.TryGetValue(message.Seq, out var writer) || !writer.IsPost || writer.Marker != Marker(message.Body))
            {
                failures.Add($"store message seq {message.Seq} {Json(message.Body)} by {message.By}: no acknowledged post accounts for it ({(writer is null ? "nothing" : writer.ToString())} has that seq)");
            }
        }
        if (store.Messages.Count != posts.Count)
        {
            failures.Add($"the store has {store.Messages.Count} messages for {posts.Count} acknowledged posts");
        }
        return failures;
    }

    /// <summary>The client's confirmed replica equals the store exactly, and it applied every position once, in order.</summary>
    private static List<string> CheckReplica(IConvergenceClient client, ReplicaSnapshot replica, StoreRead store)
    {
        var who = $"{client.Name} ({client.Kind}, instance {client.Instance})";
        var failures = new List<string>();
        if (replica.Pending != 0)
        {
            failures.Add($"{who}: {replica.Pending} writes still pending");
        }
        if (replica.Seq != store.Seq)
        {
            failures.Add($"{who}: replica at seq {replica.Seq}, store at {store.Seq}");
        }
        var live = store.Entries.Values.Where(e => !e.Deleted).ToDictionary(e => e.Key, StringComparer.Ordinal);
        foreach (var key in live.Keys.Union(replica.Entries.Keys).Order(StringComparer.Ordinal))
        {
            var stored = live.GetValueOrDefault(key);
            var has = replica.Entries.TryGetValue(key, out var mine);
            if (stored is null)
            {
                failures.Add($"{who}: key {key} is v{mine.Version} {Json(mine.Value)} in the replica, absent (or deleted) in the store ({Show(store.Entries.GetValueOrDefault(key))})");
            }
            else if (!has)
            {
                failures.Add($"{who}: key {key} is absent from the replica, {Show(stored)} in the store");
            }
            else if (mine.Deleted || mine.Version != stored.Version || !SameJson(mine.Value, stored.Value))
            {
                failures.Add($"{who}: key {key} is v{mine.Version} {Json(mine.Value)}{(mine.Deleted ? " (tombstone)" : "")} in the replica, {Show(stored)} in the store");
            }
        }
        if (replica.Messages.Count != store.Messages.Count)
        {
            failures.Add($"{who}: {replica.Messages.Count} messages in the replica, {store.Messages.Count} in the store");
        }
        var shown = 0;
        var storeBySeq = store.Messages.ToDictionary(m => m.Seq);
        var replicaSeqs = new HashSet<long>();
        for (var i = 0; i < replica.Messages.Count; i++)
        {
            var (seq, id, body) = replica.Messages[i];
            if (!replicaSeqs.Add(seq) || (i > 0 && seq <= replica.Messages[i - 1].Seq))
            {
                failures.Add($"{who}: the replica's messages are out of order or repeated at seq {seq}");
            }
            if (!storeBySeq.TryGetValue(seq, out var stored) || stored.Id != id || !SameJson(stored.Body, body))
            {
                if (shown++ < 10)
                {
                    failures.Add($"{who}: replica message seq {seq} id {id} {Json(body)} differs from the store's {(stored is null ? "(none)" : $"id {stored.Id} {Json(stored.Body)}")}");
                }
            }
        }
        foreach (var missing in store.Messages.Where(m => !replicaSeqs.Contains(m.Seq)).Take(10))
        {
            failures.Add($"{who}: store message seq {missing.Seq} {Json(missing.Body)} is missing from the replica");
        }
        failures.AddRange(replica.AppliedProblems.Select(p => $"{who}: {p}"));
        if (replica.AppliedLast != replica.Seq)
        {
            failures.Add($"{who}: the applied steps end at {replica.AppliedLast}, the replica is at seq {replica.Seq}");
        }
        return failures;
    }

    /// <summary>The faults did reach every client: each reconnected and wrote while disconnected, and lost answers led to resends.</summary>
    private static List<string> CheckCoverage(IReadOnlyList<IConvergenceClient> clients, List<WriteRecord> records, Dictionary<string, ReplicaSnapshot> snapshots, FaultRunner runner)
    {
        var failures = new List<string>();
        foreach (var client in clients)
        {
            if (snapshots[client.Name].Reconnects < 1)
            {
                failures.Add($"coverage: {client.Name} never reconnected");
            }
            if (!records.Any(r => r.Client == client.Name && r.Outcome?.Offline == true))
            {
                failures.Add($"coverage: {client.Name} made no write while disconnected");
            }
        }
        if (runner.LostAnswerRounds > 0 && !records.Any(r => r.Outcome?.Duplicate == true))
        {
            failures.Add("coverage: no write was answered as a duplicate, although answers were lost");
        }
        return failures;
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static string Marker(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("w", out var w) && w.ValueKind == JsonValueKind.String ? w.GetString()! : $"(no marker: {body.GetRawText()})";

    private static bool SameJson(JsonElement? a, JsonElement? b)
    {
        var x = a ?? default;
        var y = b ?? default;
        if (x.ValueKind == JsonValueKind.Undefined || y.ValueKind == JsonValueKind.Undefined)
        {
            return x.ValueKind == y.ValueKind;
        }
        return JsonElement.DeepEquals(x, y);
    }

    private static string Json(JsonElement? value) => value is { ValueKind: not JsonValueKind.Undefined } v ? v.GetRawText() : "(none)";

    private static string Show(Entry? entry) => entry is null ? "(none)" : $"{entry.Key} v{entry.Version} {(entry.Deleted ? "tombstone" : Json(entry.Value))}";
}
