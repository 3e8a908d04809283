using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR.Client;
using Xunit.Abstractions;

namespace CollabHub.Tests.Hostile;

/// <summary>
/// Hostile input over a raw WebSocket that speaks the SignalR JSON protocol by hand, against a real server process.
/// Every bad frame gets a clear error completion (with the hub's code where the hub raises one) or a closed
/// connection; nothing of it is stored; a bystander in the room stays connected and gets every legitimate change;
/// the server keeps serving others and stays up.
/// </summary>
public sealed class HostileInputTests(HostileServer server, ITestOutputHelper output) : IClassFixture<HostileServer>
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var name in HostileFrames.All.Keys)
        {
            data.Add(name);
        }
        return data;
    }

    private static string Json(object value) => JsonSerializer.Serialize(value);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_hostile_frame_gets_an_error_or_a_closed_connection_stores_nothing_and_the_server_serves_others(string name)
    {
        var hostile = HostileFrames.All[name];
        var room = TestClients.NewRoom("hostile");
        var failuresBefore = server.FailureLines().Count;
        await using var bystander = await server.PeerAsync("bystander");
        await bystander.JoinAsync(room);
        await using var raw = await server.RawAsync("hostile");
        Assert.Equal(OutcomeKind.Result, (await raw.InvokeAsync(HubMethods.Join, Json(new { roomId = room }))).Kind);

        // Every check below adds what it found here, so a failure shows the whole picture of the case.
        var problems = new List<string>();
        var id = raw.NextId();
        var completion = raw.Expect(id);
        try
        {
            await raw.SendAsync(hostile.Build(room, id), hostile.MessageType);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException)
        {
            output.WriteLine($"send failed: {ex.Message}");
        }
        Outcome? outcome = null;
        if (hostile.Expect is Expect.Ignored or Expect.IgnoredOrClosed)
        {
            // Nothing comes back for these; give the server time to do something wrong.
            await Task.WhenAny(completion, Task.Delay(TimeSpan.FromSeconds(1)));
            if (completion.IsCompleted)
            {
                outcome = await completion;
                if (outcome.Kind != OutcomeKind.Closed || hostile.Expect == Expect.Ignored)
                {
                    problems.Add($"expected no answer, got {outcome}");
                }
            }
        }
        else
        {
            outcome = await completion.Within();
        }
        output.WriteLine($"{name}: {outcome?.ToString() ?? "no answer"}" +
            (raw.IsClosed ? $"; close message error: {raw.CloseMessageError ?? "(none)"}; socket: {raw.CloseStatus}" : "; connection open"));

        var ok = hostile.Expect switch
        {
            Expect.Closed => outcome!.Kind == OutcomeKind.Closed,
            Expect.Error => outcome!.Kind == OutcomeKind.Error,
            Expect.Code => outcome!.Kind == OutcomeKind.Error && outcome.Code == hostile.Code,
            Expect.Result => outcome!.Kind == OutcomeKind.Result,
            Expect.Refused => outcome!.Kind == OutcomeKind.Closed || (outcome.Kind == OutcomeKind.Error && !ErrorCodes.IsTemporary(outcome.Code)),
            _ => true,
        };
        if (!ok)
        {
            problems.Add($"expected {(hostile.Expect == Expect.Code ? $"error code {hostile.Code}" : hostile.Expect.ToString())}, got {outcome}");
        }
        if (ErrorCodes.IsTemporary(outcome?.Code) && hostile.Expect != Expect.Refused)
        {
            // Never an error that invites a retry of a request that can never succeed (unavailable hides an exception the hub did not expect).
            problems.Add($"refused with a temporary code, which clients retry forever: {outcome}");
        }
        if (outcome?.Kind == OutcomeKind.Closed || raw.IsClosed)
        {
            // Announced or not, the WebSocket itself must end: no half-open connection left behind.
            try
            {
                output.WriteLine($"socket: {await raw.SocketClosed.Within()}");
            }
            catch (TimeoutException)
            {
                problems.Add($"the server announced the close ({raw.CloseReason}) but the WebSocket stayed open");
            }
        }

        var stored = outcome?.Kind == OutcomeKind.Result ? hostile.Stores : 0;
        if (!raw.IsClosed)
        {
            // The connection is still usable: a valid Set on it is answered.
            try
            {
                var after = await raw.InvokeAsync(HubMethods.Set, Json(new { roomId = room, key = "raw-after", value = true }));
                if (after.Kind == OutcomeKind.Result && after.Result!.Value.GetProperty("applied").GetBoolean())
                {
                    stored++;
                }
                else if (after.Kind != OutcomeKind.Closed || hostile.Expect is not (Expect.IgnoredOrClosed or Expect.Refused))
                {
                    problems.Add($"the connection stayed open, but a valid Set on it got: {after}");
                }
            }
            catch (TimeoutException)
            {
                problems.Add($"the connection is wedged: it stays open ({(raw.IsClosed ? "closed now" : "still open")}) but a valid Set on it got no answer within {TestClients.Timeout.TotalSeconds:0} s");
            }
        }

        try
        {
            await server.AssertRoomHoldsAsync(room, stored, name);
        }
        catch (Exception ex)
        {
            problems.Add($"room check: {ex.GetType().Name}: {ex.Message}");
        }
        // The bystander got every change that was stored, and the normal write after them, and is still connected.
        var expectedSeqs = Enumerable.Range(1, stored + 1).Select(i => (long)i).ToList();
        await EventuallyAsync(() => Seqs(bystander, room).Count >= expectedSeqs.Count || bystander.CloseReason is not null);
        if (bystander.CloseReason is { } kicked)
        {
            problems.Add($"the bystander, a normal client in the room, was disconnected: {kicked}");
        }
        else if (!Seqs(bystander, room).SequenceEqual(expectedSeqs))
        {
            problems.Add($"the bystander got seqs [{string.Join(",", Seqs(bystander, room))}], expected [{string.Join(",", expectedSeqs)}]: {Describe(bystander)}");
        }
        if (bystander.Events.FirstOrDefault(e => e.RoomId != room) is { } stray)
        {
            problems.Add($"the bystander got an event of another room: {stray.Name}@{stray.RoomId}");
        }

        if (!server.ProcessIsAlive)
        {
            problems.Add("the server process exited");
        }
        else
        {
            try
            {
                await server.AssertAliveAsync();
            }
            catch (Exception ex)
            {
                problems.Add($"server health: {ex.Message}");
            }
        }
        var newFailures = server.FailureLines().Skip(failuresBefore).Distinct().ToList();
        if (newFailures.Count > 0)
        {
            problems.Add($"the server logged failures:\n  {string.Join("\n  ", newFailures)}");
        }
        Assert.True(problems.Count == 0, $"{name}:\n- {string.Join("\n- ", problems)}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_message_that_never_ends_is_cut_off_by_a_closed_connection_past_the_hub_message_limit(bool oneFragmentedWebSocketMessage)
    {
        var room = TestClients.NewRoom("endless");
        await using var raw = await server.RawAsync("endless");
        Assert.Equal(OutcomeKind.Result, (await raw.InvokeAsync(HubMethods.Join, Json(new { roomId = room }))).Kind);

        // A Set whose value string never ends, and no record separator, ever.
        var type = WebSocketMessageType.Text;
        await raw.SendAsync(Encoding.UTF8.GetBytes($"{{\"type\":1,\"invocationId\":\"x\",\"target\":\"Set\",\"arguments\":[{{\"roomId\":\"{room}\",\"key\":\"k\",\"value\":\""), type, !oneFragmentedWebSocketMessage);
        var chunk = Encoding.UTF8.GetBytes(new string('x', 4096));
        var sent = 0L;
        const long giveUpAfter = 64L * 1024 * 1024;
        var started = DateTime.UtcNow;
        while (!raw.IsClosed && sent < giveUpAfter)
        {
            try
            {
                await raw.SendAsync(chunk, type, !oneFragmentedWebSocketMessage);
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
            {
                output.WriteLine($"send failed after {sent} bytes: {ex.Message}");
                break;
            }
            sent += chunk.Length;
            // Sends into a socket buffer complete at once: let the receive loop see the server's close.
            await Task.Yield();
        }
        var reason = await raw.WaitClosedAsync();
        output.WriteLine($"closed after {sent:N0} bytes sent ({(DateTime.UtcNow - started).TotalMilliseconds:0} ms), limit {HostileServer.MaxHubMessageBytes:N0}: {reason}");
        Assert.True(sent < giveUpAfter, $"the server still read after {sent:N0} bytes without a record separator");
        await raw.SocketClosed.Within();

        await server.AssertRoomHoldsAsync(room, 0, "an endless message");
        await server.AssertAliveAsync();
    }

    [Fact]
    public async Task Thousands_of_refused_calls_on_one_connection_each_get_a_coded_error_and_store_nothing()
    {
        var room = TestClients.NewRoom("many-bad");
        await using var raw = await server.RawAsync("many-bad");
        Assert.Equal(OutcomeKind.Result, (await raw.InvokeAsync(HubMethods.Join, Json(new { roomId = room }))).Kind);

        // Pipelined: 5,000 invalid calls in batches of 100 frames per WebSocket message, without waiting.
        var completions = new List<Task<Outcome>>();
        var bad = new[]
        {
            $"{{\"roomId\":\"{room}\",\"key\":\"\",\"value\":1}}",
            $"{{\"roomId\":\"{room}\",\"key\":\"k\"}}",
            $"{{\"roomId\":\"{room}\",\"key\":\"k\",\"value\":1,\"expectedVersion\":-1}}",
            $"{{\"roomId\":\"no such room!\",\"key\":\"k\",\"value\":1}}",
            $"{{\"roomId\":\"{room}\",\"key\":\"k\",\"value\":\"{new string('x', HostileServer.MaxValueBytes)}\"}}",
        };
        for (var batch = 0; batch < 50; batch++)
        {
            var frames = new StringBuilder();
            for (var i = 0; i < 100; i++)
            {
                var id = raw.NextId();
                completions.Add(raw.Expect(id));
                frames.Append(RawSignalRSocket.Frame(id, HubMethods.Set, $"[{bad[(batch * 100 + i) % bad.Length]}]"));
            }
            await raw.SendTextAsync(frames.ToString());
        }
        var outcomes = await Task.WhenAll(completions).WaitAsync(TimeSpan.FromSeconds(60));

        var byCode = outcomes.GroupBy(o => o.Kind == OutcomeKind.Error ? o.Code ?? "(no code)" : o.Kind.ToString()).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine(string.Join(", ", byCode.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.All(outcomes, o => Assert.True(o.Kind == OutcomeKind.Error && o.Code is not null, $"expected a coded error, got {o}"));
        Assert.All(outcomes, o => Assert.Contains(o.Code, new[] { ErrorCodes.InvalidKey, ErrorCodes.InvalidArgument, ErrorCodes.InvalidRoom, ErrorCodes.TooLarge, ErrorCodes.RateLimited }));
        Assert.False(raw.IsClosed);

        await server.AssertRoomHoldsAsync(room, 0, "5,000 refused calls");
        await server.AssertAliveAsync();
    }

    [Theory]
    [InlineData("sET")]
    [InlineData("SIGNAL")]
    public async Task A_method_named_in_another_case_is_rate_limited_like_its_canonical_name(string target)
    {
        // SignalR matches method names without regard to case; the rate limit must not be bypassed that way.
        var room = TestClients.NewRoom("case");
        await using var raw = await server.RawAsync("case");
        Assert.Equal(OutcomeKind.Result, (await raw.InvokeAsync(HubMethods.Join, Json(new { roomId = room }))).Kind);
        var request = target.Equals(HubMethods.Signal, StringComparison.OrdinalIgnoreCase)
            ? Json(new { roomId = room, payload = 1 })
            : Json(new { roomId = room, key = "k", value = 1 });
        var completions = new List<Task<Outcome>>();
        var frames = new StringBuilder();
        for (var i = 0; i < 400; i++)
        {
            var id = raw.NextId();
            completions.Add(raw.Expect(id));
            frames.Append(RawSignalRSocket.Frame(id, target, $"[{request}]"));
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await raw.SendTextAsync(frames.ToString());
        var outcomes = await Task.WhenAll(completions).WaitAsync(TimeSpan.FromSeconds(30));
        var seconds = clock.Elapsed.TotalSeconds;

        var accepted = outcomes.Count(o => o.Kind == OutcomeKind.Result);
        output.WriteLine($"{target}: {accepted} accepted, {outcomes.Count(o => o.Code == ErrorCodes.RateLimited)} rate_limited");
        Assert.All(outcomes, o => Assert.True(o.Kind == OutcomeKind.Result || o.Code == ErrorCodes.RateLimited, $"unexpected {o}"));
        // Default limits: a burst of 100 writes or 120 signals per connection, then 50 or 60 a second.
        Assert.InRange(accepted, 1, (int)(120 + 60 * (seconds + 1)));
        await server.AssertAliveAsync();
    }

    [Fact]
    public async Task A_value_nested_as_deep_as_the_server_accepts_can_still_be_read_back_by_normal_clients()
    {
        var room = TestClients.NewRoom("deep");
        await using var bystander = await server.PeerAsync("deep-bystander");
        await bystander.JoinAsync(room);
        await using var raw = await server.RawAsync("deep");
        Assert.Equal(OutcomeKind.Result, (await raw.InvokeAsync(HubMethods.Join, Json(new { roomId = room }))).Kind);

        // Find the deepest array nesting the server stores, one Set per depth until it refuses.
        var deepest = 0;
        for (var depth = 1; depth <= 80; depth++)
        {
            var value = string.Concat(Enumerable.Repeat("[", depth)) + "1" + string.Concat(Enumerable.Repeat("]", depth));
            var outcome = await raw.InvokeAsync(HubMethods.Set, $"{{\"roomId\":\"{room}\",\"key\":\"d{depth}\",\"value\":{value}}}");
            if (outcome.Kind != OutcomeKind.Result)
            {
                output.WriteLine($"depth {depth}: {outcome}");
                break;
            }
            deepest = depth;
        }
        output.WriteLine($"the server stores values nested up to {deepest} arrays deep");
        Assert.InRange(deepest, 1, 79);
        var storedSeq = (long)deepest;

        // Every stored value must be deliverable: as an event to the bystander, and in a Join and a Sync to a newcomer.
        await WaitForAsync(() => Seqs(bystander, room).Count >= deepest || bystander.ClosedWith.Task.IsCompleted,
            () => $"the bystander's events: {Describe(bystander)}");
        Assert.True(bystander.Connection.State == HubConnectionState.Connected,
            $"the bystander was disconnected by an event it could not read: {bystander.CloseReason}");
        Assert.Equal(storedSeq, Seqs(bystander, room).Count);

        await using var newcomer = await server.PeerAsync("deep-newcomer");
        JoinResult? joined = null;
        Exception? joinError = null;
        try
        {
            joined = await newcomer.JoinAsync(room);
        }
        catch (Exception ex)
        {
            joinError = ex;
        }
        Assert.True(joined is not null,
            $"a normal client cannot Join a room holding a value nested {deepest} deep (which the server accepted): {joinError?.GetType().Name}: {joinError?.Message}");
        Assert.Equal(deepest, joined!.Entries.Count);
        var synced = await newcomer.SyncAllAsync(room);
        Assert.Equal(storedSeq, synced.Seq);
        await server.AssertAliveAsync();
    }

    private static List<long> Seqs(HubPeer peer, string room) =>
        [.. peer.Events.Where(e => e.RoomId == room && e.Name is HubEvents.Changed or HubEvents.Posted)
            .Select(e => e.Name == HubEvents.Changed ? e.Payload.GetProperty("version").GetInt64() : e.Payload.GetProperty("seq").GetInt64())
            .Order()];

    private static string Describe(HubPeer peer) =>
        string.Join(", ", peer.Events.Select(e => $"{e.Name}@{e.RoomId}")) + $" (connection {peer.Connection.State})";

    /// <summary>Waits until <paramref name="condition"/> holds, up to the test timeout; says whether it does.</summary>
    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestClients.Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }
            await Task.Delay(20);
        }
        return true;
    }

    private static async Task WaitForAsync(Func<bool> condition, Func<string> what)
    {
        var deadline = DateTime.UtcNow + TestClients.Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting: {what()}");
            await Task.Delay(20);
        }
    }
}
