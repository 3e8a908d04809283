using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests.Convergence;

/// <summary>How one write ended, as the SDK reported it to the app: a result (applied, conflict, duplicate, seq) or an error.</summary>
internal sealed record WriteOutcome
{
    public bool Applied { get; init; }
    public bool Duplicate { get; init; }
    public bool Conflict { get; init; }

    /// <summary>
    /// JS only: the write was refused for a while and a later write of the same key from this client overtook it, so
    /// it was never sent again (it would overwrite the newer value); <see cref="Seq"/> and the entry are the later write's.
    /// </summary>
    public bool Superseded { get; init; }

    public long Seq { get; init; }

    /// <summary>The answer's entry (sets and deletes) or message (posts).</summary>
    public long? EntryVersion { get; init; }
    public JsonElement? EntryValue { get; init; }
    public bool EntryDeleted { get; init; }
    public string? MessageId { get; init; }
    public JsonElement? MessageBody { get; init; }

    /// <summary>The compare-and-set version the write carried, if any.</summary>
    public long? ExpectedVersion { get; init; }

    /// <summary>The client was not connected when the write was made (it waited in the queue).</summary>
    public bool Offline { get; init; }

    public string? ErrorCode { get; init; }
    public string? Error { get; init; }
}

/// <summary>A client's confirmed replica of the room, and what it observed on the way.</summary>
internal sealed record ReplicaSnapshot(
    long Seq,
    IReadOnlyDictionary<string, (JsonElement? Value, long Version, bool Deleted)> Entries,
    IReadOnlyList<(long Seq, string Id, JsonElement Body)> Messages,
    IReadOnlyList<string> AppliedProblems,
    long AppliedLast,
    int AppliedSteps,
    int Reconnects,
    string State,
    int Pending,
    string Notes);

internal sealed record ClientStatus(string State, int Pending, long Seq, IReadOnlyList<string> Unanswered);

/// <summary>What the convergence tests do with their clients as a whole when a run ends.</summary>
internal static class ConvergenceClientSet
{
    /// <summary>The stderr of every JS client, for a failure's report.</summary>
    public static string JsStdErr(IEnumerable<IConvergenceClient> clients) =>
        string.Join("\n", clients.OfType<JsConvergenceClient>().Select(c => $"--- {c.Name} stderr ---\n{c.StdErr}"));

    /// <summary>Disposes every client, each within 15 s; one that fails or hangs is reported and does not stop the others.</summary>
    public static async Task DisposeAllAsync(IEnumerable<IConvergenceClient> clients, ITestOutputHelper output)
    {
        foreach (var client in clients)
        {
            try
            {
                await client.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));
            }
            catch (Exception ex)
            {
                output.WriteLine($"disposing {client.Name}: {ex.Message}");
            }
        }
    }
}

/// <summary>One SDK client in the convergence test: a .NET <see cref="CollabClient"/> or a JS SDK client in a node process.</summary>
internal interface IConvergenceClient : IAsyncDisposable
{
    string Name { get; }

    string Kind { get; }

    /// <summary>Which instance (and proxy) it connects through.</summary>
    int Instance { get; }

    /// <summary>A set; with <paramref name="cas"/>, expectedVersion = the key's confirmed version now (0 when absent).</summary>
    Task<WriteOutcome> SetAsync(string key, JsonElement value, bool cas);

    Task<WriteOutcome> DeleteAsync(string key);

    Task<WriteOutcome> PostAsync(JsonElement body);

    Task<ClientStatus> StatusAsync();

    Task<ReplicaSnapshot> SnapshotAsync();
}

/// <summary>Checks that applied ranges follow each other with no gap and no repeat (the .NET SDK's <see cref="AppliedRange"/>: From = previous To + 1).</summary>
internal sealed class AppliedTracker
{
    private readonly object _gate = new();
    private readonly List<string> _problems = [];
    private long _last;
    private int _steps;

    public void Observe(AppliedRange range)
    {
        lock (_gate)
        {
            _steps++;
            if (range.Full)
            {
                // Only the first join (no sinceSeq yet) may be a full snapshot: tombstones are kept for 30 days here.
                if (_steps != 1)
                {
                    Problem($"unexpected full snapshot {range} after seq {_last}");
                }
            }
            else
            {
                if (range.From != _last + 1)
                {
                    Problem($"applied {range} does not start right after the previous step's end ({_last})");
                }
                if (range.To < range.From)
                {
                    Problem($"applied {range} does not move forward");
                }
            }
            _last = range.To;
        }
    }

    private void Problem(string text)
    {
        if (_problems.Count < 50)
        {
            _problems.Add(text);
        }
    }

    public (IReadOnlyList<string> Problems, long Last, int Steps) Read()
    {
        lock (_gate)
        {
            return ([.. _problems], _last, _steps);
        }
    }
}

/// <summary>A .NET <see cref="CollabClient"/> with one room, in the test process.</summary>
internal sealed class DotNetConvergenceClient : IConvergenceClient
{
    private readonly CollabClient _client;
    private readonly CollabRoom _room;
    private readonly AppliedTracker _applied = new();
    private readonly ConcurrentDictionary<long, string> _unanswered = new();
    private int _connects;
    private long _nextWrite;

    private DotNetConvergenceClient(string name, int instance, Uri url, string roomId)
    {
        Name = name;
        Instance = instance;
        _client = new CollabClient(new CollabClientOptions
        {
            Url = url,
            Name = name,
            ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            MaxMessages = 1_000_000,
            MaxQueuedWrites = 100_000,
        });
        _client.StateChanged += change =>
        {
            if (change.Current == CollabClientState.Connected)
            {
                Interlocked.Increment(ref _connects);
            }
        };
        // Opened before the start, so the tracker sees every step from the first join on.
        _room = _client.OpenRoom(roomId);
        _room.Applied += _applied.Observe;
    }

    public string Name { get; }

    public string Kind => ".NET";

    public int Instance { get; }

    public static async Task<DotNetConvergenceClient> StartAsync(string name, int instance, Uri url, string roomId)
    {
        var client = new DotNetConvergenceClient(name, instance, url, roomId);
        try
        {
            await client._client.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await client._client.JoinAsync(roomId).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
        return client;
    }

    public Task<WriteOutcome> SetAsync(string key, JsonElement value, bool cas)
    {
        long? expected = cas ? _room.GetConfirmed(key)?.Version ?? 0 : null;
        var offline = !_client.IsConnected;
        return Track(_room.SetAsync(key, value, expected is { } v ? new WriteOptions(ExpectedVersion: v) : null), offline, expected, $"set {key}");
    }

    public Task<WriteOutcome> DeleteAsync(string key) => Track(_room.DeleteAsync(key), !_client.IsConnected, null, $"delete {key}");

    public async Task<WriteOutcome> PostAsync(JsonElement body)
    {
        var offline = !_client.IsConnected;
        var id = Interlocked.Increment(ref _nextWrite);
        _unanswered[id] = "post";
        try
        {
            var result = await _room.PostAsync(body);
            return new WriteOutcome
            {
                Applied = true,
                Duplicate = result.Duplicate,
                Seq = result.Seq,
                MessageId = result.Message.Id,
                MessageBody = result.Message.Body,
                EntryVersion = result.Message.Seq,
                Offline = offline,
            };
        }
        catch (Exception ex)
        {
            return Failed(ex, offline);
        }
        finally
        {
            _unanswered.TryRemove(id, out _);
        }
    }

    private async Task<WriteOutcome> Track(Task<WriteResult> write, bool offline, long? expected, string what)
    {
        var id = Interlocked.Increment(ref _nextWrite);
        _unanswered[id] = what;
        try
        {
            var result = await write;
            return new WriteOutcome
            {
                Applied = result.Applied,
                Duplicate = result.Duplicate,
                Conflict = result.Conflict,
                Seq = result.Seq,
                EntryVersion = result.Entry?.Version,
                EntryValue = result.Entry?.Value,
                EntryDeleted = result.Entry?.Deleted ?? false,
                ExpectedVersion = expected,
                Offline = offline,
            };
        }
        catch (Exception ex)
        {
            return Failed(ex, offline) with { ExpectedVersion = expected };
        }
        finally
        {
            _unanswered.TryRemove(id, out _);
        }
    }

    private static WriteOutcome Failed(Exception ex, bool offline) => new()
    {
        ErrorCode = ex is CollabHubException hub ? hub.Code : ex.GetType().Name,
        Error = ex.Message,
        Offline = offline,
    };

    public Task<ClientStatus> StatusAsync() =>
        Task.FromResult(new ClientStatus(_client.State.ToString(), _client.PendingWrites, _room.Seq, [.. _unanswered.Values]));

    public Task<ReplicaSnapshot> SnapshotAsync()
    {
        var (problems, last, steps) = _applied.Read();
        var entries = _room.Confirmed.ToDictionary(
            pair => pair.Key,
            pair => (pair.Value.Value, pair.Value.Version, pair.Value.Deleted),
            StringComparer.Ordinal);
        var messages = _room.Messages.Select(m => (m.Seq, m.Id, m.Body)).ToList();
        return Task.FromResult(new ReplicaSnapshot(
            _room.Seq, entries, messages, problems, last, steps, Math.Max(0, Volatile.Read(ref _connects) - 1),
            _client.State.ToString(), _client.PendingWrites, ""));
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}

/// <summary>A JS SDK client in a node process running Hub.Tests/js/convergence-client.mjs, driven over stdin/stdout JSON lines.</summary>
internal sealed class JsConvergenceClient : IConvergenceClient
{
    public const string HowToInstall = "Run ./test.sh at the repository root (it installs node and runs `npm ci`), or do it by hand: "
        + "`apt-get install -y nodejs npm`, then `npm ci` in Hub.Tests/js.";

    private readonly Process _process;
    private readonly object _writeGate = new();
    private readonly StringBuilder _stderr = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<WriteOutcome>> _writes = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _requests = new();
    private readonly TaskCompletionSource<long> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reader;
    private int _nextRequest;
    private int _nextWrite;

    private JsConvergenceClient(string name, int instance, Process process)
    {
        Name = name;
        Instance = instance;
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lock (_stderr)
                {
                    if (_stderr.Length < 64 * 1024)
                    {
                        _stderr.AppendLine(line);
                    }
                }
            }
        };
        _process.BeginErrorReadLine();
        _reader = Task.Run(ReadLoopAsync);
    }

    public string Name { get; }

    public string Kind => "JS";

    public int Instance { get; }

    public static string JsFolder => Path.Combine(RepoPaths.Root, "Hub.Tests", "js");

    /// <summary>Fails the test with install instructions when node or the npm packages are missing.</summary>
    public static void AssertNodeInstalled()
    {
        var signalRPackage = Path.Combine(JsFolder, "node_modules", "@microsoft", "signalr", "package.json");
        Assert.True(File.Exists(signalRPackage), $"The @microsoft/signalr npm package is not installed in {JsFolder} ({signalRPackage} is missing). {HowToInstall}");
        var sdk = Path.Combine(RepoPaths.Root, "wwwroot", "js", "collab-client.js");
        Assert.True(File.Exists(sdk), $"The JS SDK is missing: {sdk}");
        try
        {
            using var node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
            node.StandardOutput.ReadToEnd();
            node.WaitForExit(10_000);
        }
        catch (Win32Exception ex)
        {
            Assert.Fail($"`node` could not be started ({ex.Message}); node.js is needed for the JS clients of the convergence test. {HowToInstall}");
        }
    }

    public static async Task<JsConvergenceClient> StartAsync(string name, int instance, Uri url, string roomId, bool skipNegotiation)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = JsFolder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        start.ArgumentList.Add("convergence-client.mjs");
        start.Environment["NO_COLOR"] = "1";
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            Assert.Fail($"`node` could not be started ({ex.Message}); node.js is needed for the JS clients of the convergence test. {HowToInstall}");
        }
        process.StandardInput.AutoFlush = true;
        var client = new JsConvergenceClient(name, instance, process);
        client.Send(new JsonObject
        {
            ["cmd"] = "start",
            ["url"] = url.ToString(),
            ["name"] = name,
            ["room"] = roomId,
            ["skipNegotiation"] = skipNegotiation,
            ["baseDelayMs"] = 100,
            ["maxDelayMs"] = 1000,
        });
        try
        {
            await client._started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            var stderr = client.StdErr;
            await client.DisposeAsync();
            throw new TimeoutException($"JS client {name} did not connect and join within 30 s.\n{stderr}");
        }
        return client;
    }

    public string StdErr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public Task<WriteOutcome> SetAsync(string key, JsonElement value, bool cas) => Write(new JsonObject
    {
        ["op"] = "Set",
        ["key"] = key,
        ["value"] = JsonNode.Parse(value.GetRawText()),
        ["cas"] = cas,
    });

    public Task<WriteOutcome> DeleteAsync(string key) => Write(new JsonObject { ["op"] = "Delete", ["key"] = key });

    public Task<WriteOutcome> PostAsync(JsonElement body) => Write(new JsonObject { ["op"] = "Post", ["body"] = JsonNode.Parse(body.GetRawText()) });

    private Task<WriteOutcome> Write(JsonObject command)
    {
        var id = $"{Name}-{Interlocked.Increment(ref _nextWrite)}";
        var done = new TaskCompletionSource<WriteOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        _writes[id] = done;
        command["cmd"] = "write";
        command["id"] = id;
        if (_exited.Task.IsCompleted)
        {
            done.TrySetException(new InvalidOperationException($"node ({Name}) has exited.\n{StdErr}"));
        }
        else
        {
            Send(command);
        }
        return done.Task;
    }

    public async Task<ClientStatus> StatusAsync()
    {
        var status = await RequestAsync("status");
        return new ClientStatus(
            (string)status["state"]!,
            (int)status["pending"]!,
            (long)status["seq"]!,
            [.. status["unsettled"]!.AsArray().Select(n => (string)n!)]);
    }

    public async Task<ReplicaSnapshot> SnapshotAsync()
    {
        var snapshot = await RequestAsync("snapshot");
        var entries = new Dictionary<string, (JsonElement? Value, long Version, bool Deleted)>(StringComparer.Ordinal);
        foreach (var node in snapshot["entries"]!.AsArray())
        {
            var key = (string)node!["key"]!;
            if (!entries.TryAdd(key, (ToElement(node["value"]), (long)node["version"]!, (bool)node["deleted"]!)))
            {
                entries[key] = (null, -1, true); // a key twice: shows as a mismatch
            }
        }
        var messages = snapshot["messages"]!.AsArray()
            .Select(m => ((long)m!["seq"]!, (string)m["id"]!, ToElement(m["body"]) ?? default))
            .ToList();
        var applied = snapshot["applied"]!;
        var notes = $"errors {snapshot["errors"]!.ToJsonString()}, states {string.Join(">", snapshot["states"]!.AsArray().Select(s => (string)s!))}";
        return new ReplicaSnapshot(
            (long)snapshot["seq"]!,
            entries,
            messages,
            [.. applied["problems"]!.AsArray().Select(p => (string)p!)],
            (long)applied["last"]!,
            (int)applied["count"]!,
            (int)snapshot["reconnects"]!,
            (string)snapshot["state"]!,
            (int)snapshot["pending"]!,
            notes);
    }

    private async Task<JsonObject> RequestAsync(string command)
    {
        var req = Interlocked.Increment(ref _nextRequest);
        var answer = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests[req] = answer;
        Send(new JsonObject { ["cmd"] = command, ["req"] = req });
        try
        {
            return await answer.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"JS client {Name} did not answer {command} within 15 s.\n{StdErr}");
        }
    }

    private static JsonElement? ToElement(JsonNode? node) =>
        node is null ? JsonDocument.Parse("null").RootElement.Clone() : JsonDocument.Parse(node.ToJsonString()).RootElement.Clone();

    private void Send(JsonObject command)
    {
        var line = command.ToJsonString();
        lock (_writeGate)
        {
            try
            {
                _process.StandardInput.WriteLine(line);
            }
            catch (IOException)
            {
                // node has exited: the reader fails what waits.
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception? failure = null;
        try
        {
            string? line;
            while ((line = await _process.StandardOutput.ReadLineAsync()) is not null)
            {
                if (line.Length == 0 || line[0] != '{')
                {
                    continue;
                }
                var message = JsonNode.Parse(line)!.AsObject();
                switch ((string?)message["ev"])
                {
                    case "started":
                        _started.TrySetResult((long)message["seq"]!);
                        break;
                    case "settled":
                        if (_writes.TryRemove((string)message["id"]!, out var write))
                        {
                            write.TrySetResult(ToOutcome(message));
                        }
                        break;
                    case "status":
                    case "snapshot":
                        if (_requests.TryRemove((int)message["req"]!, out var request))
                        {
                            request.TrySetResult(message);
                        }
                        break;
                    case "fatal":
                        failure = new InvalidOperationException($"JS client {Name} failed: {(string?)message["message"]}");
                        break;
                }
            }
        }
        catch (Exception ex)
        {
            failure ??= ex;
        }
        await _process.WaitForExitAsync();
        var error = new InvalidOperationException($"node ({Name}) exited with code {_process.ExitCode}. {failure?.Message}\n{StdErr}");
        _exited.TrySetResult();
        _started.TrySetException(error);
        foreach (var write in _writes.Values)
        {
            write.TrySetException(error);
        }
        foreach (var request in _requests.Values)
        {
            request.TrySetException(error);
        }
    }

    private static WriteOutcome ToOutcome(JsonObject settled)
    {
        var offline = (bool?)settled["offline"] ?? false;
        var expected = (long?)settled["expectedVersion"];
        if (settled["error"] is JsonObject error)
        {
            return new WriteOutcome { ErrorCode = (string?)error["code"], Error = (string?)error["message"], Offline = offline, ExpectedVersion = expected };
        }
        var result = settled["result"]!.AsObject();
        if (result["message"] is JsonObject message)
        {
            return new WriteOutcome
            {
                Applied = true,
                Duplicate = (bool)result["duplicate"]!,
                Seq = (long)result["seq"]!,
                MessageId = (string?)message["id"],
                MessageBody = ToElement(message["body"]),
                EntryVersion = (long?)message["seq"],
                Offline = offline,
            };
        }
        var entry = result["entry"] as JsonObject;
        return new WriteOutcome
        {
            Applied = (bool)result["applied"]!,
            Duplicate = (bool)result["duplicate"]!,
            Conflict = (bool)result["conflict"]!,
            Superseded = (bool?)result["superseded"] ?? false,
            Seq = (long)result["seq"]!,
            EntryVersion = (long?)entry?["version"],
            EntryValue = entry is null ? null : ToElement(entry["value"]),
            EntryDeleted = (bool?)entry?["deleted"] ?? false,
            ExpectedVersion = expected,
            Offline = offline,
        };
    }

    public async ValueTask DisposeAsync()
    {
        Send(new JsonObject { ["cmd"] = "exit" });
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        try
        {
            await _reader.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }
        _process.Dispose();
    }
}
