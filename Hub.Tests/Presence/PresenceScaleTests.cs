using System.Text;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;
using CollabHub.Tests.Security;

namespace CollabHub.Tests.Presence;

/// <summary>
/// Rooms of hundreds, at a size ./test.sh can afford (the benchmark's rooms scenario runs them at full size): every
/// joiner gets in, presence reaches the members as coalesced deltas, and the presence bytes a member receives grow
/// with the number of joiners, not with its square.
/// </summary>
public sealed class PresenceScaleTests : IAsyncLifetime
{
    private const int MaxListed = 20;

    private readonly HubCluster _cluster = new();
    private HubServerProcess? _server;
    private int _names;

    private Uri HubUrl => _server!.HubUrl;

    public async Task InitializeAsync() => _server = await _cluster.StartServerAsync(new Dictionary<string, string>
    {
        // Lists rooms of up to MaxListed, counts larger ones; the scale test sets its own limit below.
        ["CollabHub:Presence:MaxListed"] = MaxListed.ToString(),
    });

    public Task DisposeAsync() => _cluster.DisposeAsync().AsTask();

    [Fact]
    public async Task The_presence_bytes_a_member_receives_while_others_join_grow_linearly_and_arrive_coalesced()
    {
        var server = await _cluster.StartServerAsync(database: _cluster.File("scale.db"));

        var hundred = await JoinBurstAsync(server.HubUrl, 100);
        var threeHundred = await JoinBurstAsync(server.HubUrl, 300);

        // Linear: three times the joiners cost about three times the bytes (the whole list to everyone on every join
        // would cost nine times); the margin covers the envelope of each delta.
        Assert.True(threeHundred.Bytes < 4.5 * hundred.Bytes,
            $"100 joiners: {hundred.Bytes} bytes in {hundred.Deltas} deltas; 300 joiners: {threeHundred.Bytes} bytes in {threeHundred.Deltas} deltas");
        // Coalesced: a burst of joins becomes fewer events than joins.
        Assert.True(threeHundred.Deltas < 300 / 2, $"{threeHundred.Deltas} deltas for 300 joins");
    }

    [Fact]
    public async Task Above_MaxListed_a_room_is_counted_and_when_it_shrinks_back_the_whole_list_arrives_once()
    {
        var room = TestClients.NewRoom();
        await using var listener = await HubPeer.ConnectAsync(HubUrl, NewName("listener"));
        await listener.JoinAsync(room);
        var others = await ConnectAsync(HubUrl, MaxListed + 5);
        try
        {
            await Task.WhenAll(others.Select(o => o.JoinAsync(room))).Within();
            await Eventually.HoldsAsync(() => LastCount(listener, room) == MaxListed + 6, () => $"the count {MaxListed + 6}, got {LastCount(listener, room)}");

            var late = await HubPeer.ConnectAsync(HubUrl, NewName("late"));
            await using (late)
            {
                var joined = await late.JoinAsync(room);
                Assert.Equal(MaxListed + 7, joined.PresenceCount);
                Assert.Equal(MaxListed, joined.Presence.Count);
                Assert.Equal(joined.Presence.Select(p => p.UserId).Order(StringComparer.Ordinal), joined.Presence.Select(p => p.UserId));
            }
            var countedOnly = Deltas(listener, room).Where(d => d.GetProperty("count").GetInt32() > MaxListed).ToList();
            Assert.NotEmpty(countedOnly);
            Assert.All(countedOnly, d => Assert.Equal(["count"], d.EnumerateObject().Select(p => p.Name)));

            // Back under the limit: one delta with the whole list (full), and the deltas alone give who is left.
            await Task.WhenAll(others.Take(10).Select(o => o.Connection.StopAsync())).Within();
            var left = others.Skip(10).Select(o => o.Name).Append(listener.Name).Order(StringComparer.Ordinal).ToList();
            await Eventually.HoldsAsync(
                () => Deltas(listener, room).Any(IsFull) && Replay(listener, room).SequenceEqual(left),
                () => $"the {left.Count} left in the listener's presence, got {Replay(listener, room).Count}");
            var full = Assert.Single(Deltas(listener, room), IsFull);
            Assert.Equal(full.GetProperty("count").GetInt32(), full.GetProperty("upserts").GetArrayLength());
            Assert.True(full.GetProperty("count").GetInt32() <= MaxListed);
        }
        finally
        {
            await Task.WhenAll(others.Select(o => o.DisposeAsync().AsTask()));
        }
    }

    /// <summary>A listener joins a new room, then <paramref name="joiners"/> others join it at once; returns what the listener received.</summary>
    private async Task<(long Bytes, int Deltas)> JoinBurstAsync(Uri hubUrl, int joiners)
    {
        var room = TestClients.NewRoom();
        await using var listener = await HubPeer.ConnectAsync(hubUrl, NewName("listener"));
        await listener.JoinAsync(room);
        var others = await ConnectAsync(hubUrl, joiners);
        try
        {
            var answers = await Task.WhenAll(others.Select(o => o.JoinAsync(room))).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.All(answers, answer => Assert.Equal(room, answer.RoomId));

            // Everybody joined, and the listener's presence, made from the deltas alone, lists every one of them.
            var everyone = others.Select(o => o.Name).Append(listener.Name).Order(StringComparer.Ordinal).ToList();
            await Eventually.HoldsAsync(() => Replay(listener, room).SequenceEqual(everyone), () => $"all {joiners + 1} in the listener's presence, got {Replay(listener, room).Count}");
            Assert.Equal(joiners + 1, LastCount(listener, room));

            var deltas = Deltas(listener, room).ToList();
            return (deltas.Sum(d => (long)Encoding.UTF8.GetByteCount(d.GetRawText())), deltas.Count);
        }
        finally
        {
            await Task.WhenAll(others.Select(o => o.DisposeAsync().AsTask()));
        }
    }

    private async Task<List<HubPeer>> ConnectAsync(Uri hubUrl, int count)
    {
        // A few at a time: this measures presence, not how fast the machine opens sockets.
        var peers = new List<HubPeer>(count);
        foreach (var chunk in Enumerable.Range(0, count).Chunk(25))
        {
            peers.AddRange(await Task.WhenAll(chunk.Select(_ => HubPeer.ConnectAsync(hubUrl, NewName("member")))));
        }
        return peers;
    }

    private string NewName(string prefix) => $"{prefix}-{Interlocked.Increment(ref _names):D4}";

    private static IEnumerable<JsonElement> Deltas(HubPeer peer, string room) =>
        peer.Events.Where(e => e.Name == HubEvents.PresenceDelta && e.RoomId == room).Select(e => e.Payload);

    private static int LastCount(HubPeer peer, string room) => Deltas(peer, room).LastOrDefault() is { ValueKind: JsonValueKind.Object } last ? last.GetProperty("count").GetInt32() : 0;

    private static bool IsFull(JsonElement delta) => delta.TryGetProperty("full", out var full) && full.GetBoolean();

    /// <summary>The user ids a member that applies the deltas from nothing ends with, sorted.</summary>
    private static List<string> Replay(HubPeer peer, string room)
    {
        var present = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var delta in Deltas(peer, room))
        {
            if (IsFull(delta))
            {
                present.Clear();
            }
            if (delta.TryGetProperty("removed", out var removed))
            {
                foreach (var userId in removed.EnumerateArray())
                {
                    present.Remove(userId.GetString()!);
                }
            }
            if (delta.TryGetProperty("upserts", out var upserts))
            {
                foreach (var entry in upserts.EnumerateArray())
                {
                    present.Add(entry.GetProperty("userId").GetString()!);
                }
            }
        }
        return [.. present];
    }
}
