using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CollabHub.Tests.Hostile;

/// <summary>
/// Two real Hub.Server processes on one SQLite file and one real redis-server: over thousands of events spread across
/// twenty rooms, every client gets the events of the rooms it joined (every committed change, once) and not a single
/// event of another room.
/// </summary>
[Collection(HostileLoadCollection.Name)]
public sealed class CrossRoomIsolationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int RoomCount = 20;
    private const int ListenersPerInstance = 6;
    private const int RoomsPerListener = 5;
    private const int WritersPerInstance = 2;
    private const int OperationsPerWriter = 750;
    private const int InFlightPerWriter = 32;

    private readonly HubCluster _cluster = new();

    public async Task InitializeAsync()
    {
        var redis = await _cluster.StartRedisAsync();
        var settings = new Dictionary<string, string>
        {
            ["CollabHub:Redis"] = redis.ConnectionString,
            ["CollabHub:RedisPrefix"] = "hostile-isolation",
            // The writers here are trusted load generators: no rate limit may refuse them.
            ["CollabHub:Limits:Rates:WritesPerSecond"] = "1000000",
            ["CollabHub:Limits:Rates:WriteBurst"] = "1000000",
            ["CollabHub:Limits:Rates:UserWritesPerSecond"] = "1000000",
            ["CollabHub:Limits:Rates:UserWriteBurst"] = "1000000",
            ["CollabHub:Limits:Rates:SignalsPerSecond"] = "1000000",
            ["CollabHub:Limits:Rates:SignalBurst"] = "1000000",
            ["CollabHub:Limits:Rates:UserSignalsPerSecond"] = "1000000",
            ["CollabHub:Limits:Rates:UserSignalBurst"] = "1000000",
        };
        // The first migrates the schema alone; the second starts on a ready database.
        await _cluster.StartServerAsync(settings);
        await _cluster.StartServerAsync(settings);
    }

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    private async Task<HubPeer> ConnectAsync(int instance, string name) => _cluster.Track(await HubPeer.ConnectAsync(_cluster.Servers[instance].HubUrl, name));

    [Fact]
    public async Task Over_thousands_of_events_every_client_gets_every_change_of_its_rooms_and_nothing_of_other_rooms()
    {
        var clock = Stopwatch.StartNew();
        var rooms = Enumerable.Range(0, RoomCount).Select(i => TestClients.NewRoom($"iso{i:00}")).ToArray();

        // Listeners on both instances, each in a different handful of rooms; writers on both instances, in every room.
        var members = new List<(HubPeer Peer, int Instance, HashSet<string> Rooms, bool Writer)>();
        for (var instance = 0; instance < 2; instance++)
        {
            for (var l = 0; l < ListenersPerInstance; l++)
            {
                var random = new Random(1000 * instance + l);
                var joined = rooms.OrderBy(_ => random.Next()).Take(RoomsPerListener).ToHashSet(StringComparer.Ordinal);
                members.Add((await ConnectAsync(instance, $"listener-{instance}-{l}"), instance, joined, false));
            }
            for (var w = 0; w < WritersPerInstance; w++)
            {
                members.Add((await ConnectAsync(instance, $"writer-{instance}-{w}"), instance, rooms.ToHashSet(StringComparer.Ordinal), true));
            }
        }
        await Task.WhenAll(members.Select(async m =>
        {
            foreach (var room in m.Rooms)
            {
                await m.Peer.JoinAsync(room);
            }
        })).WaitAsync(TimeSpan.FromSeconds(30));
        var writers = members.Where(m => m.Writer).Select(m => m.Peer).ToArray();
        output.WriteLine($"{members.Count} clients connected and joined in {clock.ElapsedMilliseconds} ms; rooms without a listener: " +
            $"{rooms.Count(r => !members.Any(m => !m.Writer && m.Rooms.Contains(r)))}");

        // Thousands of Sets, Posts and Signals, spread across the rooms, several in flight per writer.
        var committed = new ConcurrentDictionary<string, ConcurrentBag<long>>(StringComparer.Ordinal);
        var signalsSent = new ConcurrentDictionary<(string Room, HubPeer Sender), int>();
        var writeClock = Stopwatch.StartNew();
        await Task.WhenAll(writers.Select((writer, w) => WriteAsync(writer, w, rooms, committed, signalsSent))).WaitAsync(TimeSpan.FromSeconds(60));
        var writeTime = writeClock.Elapsed;

        // A fence per room: once a client has it and everything below it, it has the room's every committed change.
        var fences = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var room in rooms)
        {
            var fence = await writers[0].SetAsync(room, "fence", JsonSerializer.SerializeToElement(new { room, fence = true }));
            committed.GetOrAdd(room, _ => []).Add(fence.Seq);
            fences[room] = fence.Seq;
        }
        var problems = new List<string>();
        foreach (var room in rooms)
        {
            var seqs = committed[room].Order().ToList();
            if (!seqs.SequenceEqual(Enumerable.Range(1, (int)fences[room]).Select(i => (long)i)))
            {
                problems.Add($"room {room}: the write results do not cover 1..{fences[room]} exactly once");
            }
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        foreach (var member in members)
        {
            while (member.Rooms.Any(room => Missing(member.Peer, room, fences[room]).Count > 0) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
        var deliveryTime = writeClock.Elapsed;
        // Anything stray still in the pipes arrives now.
        await Task.Delay(500);

        var events = 0;
        foreach (var (peer, instance, joined, _) in members)
        {
            var received = peer.Events;
            events += received.Count;
            var stray = received.Where(e => !joined.Contains(e.RoomId)).ToList();
            if (stray.Count > 0)
            {
                problems.Add($"{peer.Name} (instance {instance}) got {stray.Count} event(s) of rooms it never joined: " +
                    string.Join(", ", stray.Take(5).Select(e => $"{e.Name}@{e.RoomId}")));
            }
            var mislabelled = received.Where(e => TaggedRoom(e) is { } tag && tag != e.RoomId).ToList();
            if (mislabelled.Count > 0)
            {
                problems.Add($"{peer.Name}: {mislabelled.Count} event(s) whose content belongs to another room than the room id they came with, e.g. " +
                    $"{mislabelled[0].Name}@{mislabelled[0].RoomId}: {mislabelled[0].Payload.GetRawText()}");
            }
            foreach (var room in joined)
            {
                var missing = Missing(peer, room, fences[room]);
                if (missing.Count > 0)
                {
                    problems.Add($"{peer.Name} (instance {instance}) is missing {missing.Count} of {fences[room]} change(s) of room {room}: seqs {string.Join(",", missing.Take(20))}");
                }
                var duplicates = Positions(peer, room).GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
                if (duplicates.Count > 0)
                {
                    problems.Add($"{peer.Name} got {duplicates.Count} change(s) of room {room} more than once: seqs {string.Join(",", duplicates.Take(20))}");
                }
                var expectedSignals = signalsSent.Where(kv => kv.Key.Room == room && kv.Key.Sender != peer).Sum(kv => kv.Value);
                var gotSignals = received.Count(e => e.Name == HubEvents.Signaled && e.RoomId == room);
                if (gotSignals != expectedSignals)
                {
                    problems.Add($"{peer.Name} (instance {instance}) got {gotSignals} of the {expectedSignals} signal(s) sent to room {room}");
                }
            }
        }

        var changes = fences.Values.Sum();
        var signals = signalsSent.Values.Sum();
        output.WriteLine($"{changes} committed changes and {signals} signals in {RoomCount} rooms; writes took {writeTime.TotalMilliseconds:0} ms, " +
            $"delivery complete after {deliveryTime.TotalMilliseconds:0} ms; {events} events received by {members.Count} clients; whole test {clock.ElapsedMilliseconds} ms");
        foreach (var problem in problems)
        {
            output.WriteLine(problem);
        }
        Assert.True(problems.Count == 0, $"{problems.Count} problem(s):\n{string.Join('\n', problems.Take(40))}");
        Assert.True(changes >= 2000, $"only {changes} changes were made");
    }

    private static async Task WriteAsync(HubPeer writer, int w, string[] rooms,
        ConcurrentDictionary<string, ConcurrentBag<long>> committed, ConcurrentDictionary<(string Room, HubPeer Sender), int> signalsSent)
    {
        var random = new Random(77 + w);
        using var window = new SemaphoreSlim(InFlightPerWriter);
        var calls = new List<Task>();
        for (var i = 0; i < OperationsPerWriter; i++)
        {
            var room = rooms[random.Next(rooms.Length)];
            var kind = random.NextDouble();
            var tag = JsonSerializer.SerializeToElement(new { room, w, i });
            await window.WaitAsync().Within();
            calls.Add(Task.Run(async () =>
            {
                try
                {
                    if (kind < 0.5)
                    {
                        var result = await writer.SetAsync(room, $"k{i % 10}", tag);
                        Assert.True(result.Applied);
                        committed.GetOrAdd(room, _ => []).Add(result.Seq);
                    }
                    else if (kind < 0.8)
                    {
                        var result = await writer.PostAsync(room, tag);
                        committed.GetOrAdd(room, _ => []).Add(result.Seq);
                    }
                    else
                    {
                        await writer.SignalAsync(room, tag);
                        signalsSent.AddOrUpdate((room, writer), 1, (_, n) => n + 1);
                    }
                }
                finally
                {
                    window.Release();
                }
            }));
        }
        await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>The room a payload was written for (every write here carries it), or null for events without one (presence).</summary>
    private static string? TaggedRoom(PeerEvent e)
    {
        var content = e.Name switch
        {
            HubEvents.Changed => e.Payload.TryGetProperty("value", out var value) ? value : default,
            HubEvents.Posted => e.Payload.TryGetProperty("body", out var body) ? body : default,
            HubEvents.Signaled => e.Payload.TryGetProperty("payload", out var payload) ? payload : default,
            _ => default,
        };
        return content.ValueKind == JsonValueKind.Object && content.TryGetProperty("room", out var room) ? room.GetString() : null;
    }

    private static IEnumerable<long> Positions(HubPeer peer, string room) =>
        peer.Events.Where(e => e.RoomId == room && e.Name is HubEvents.Changed or HubEvents.Posted)
            .Select(e => e.Name == HubEvents.Changed ? e.Payload.GetProperty("version").GetInt64() : e.Payload.GetProperty("seq").GetInt64());

    private static List<long> Missing(HubPeer peer, string room, long fence)
    {
        var have = Positions(peer, room).ToHashSet();
        return [.. Enumerable.Range(1, (int)fence).Select(i => (long)i).Where(s => !have.Contains(s))];
    }
}
