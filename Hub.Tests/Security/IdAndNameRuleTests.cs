using System.Text.Json;
using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>
/// Ids and names (issue 15, items 4 and 5): a trailing newline is refused in every id; a token's <c>name</c> goes out
/// only cleaned (no control, bidi or direction marks, white space runs as one space, at most 64 characters, the user
/// id when nothing is left); a token whose <c>sub</c> is too long or has a control character is refused.
/// </summary>
[Collection(AttackServerCollection.Name)]
public sealed class IdAndNameRuleTests(AttackServerFixture fixture)
{
    private const int MaxNameLength = 64;

    private PrivateProductionServer Server => fixture.Server;

    private static string NewUser(string name) => $"{name}-{Guid.NewGuid():N}";

    /// <summary>Requests as JSON, where <c>\n</c> is the JSON escape of a newline and ROOM a room the caller owns.</summary>
    public static TheoryData<string, string, string, string> TrailingNewlines() => new()
    {
        { "a room id to join", "Join", """{"roomId":"secret\n"}""", "invalid_room" },
        { "a room id to write", "Set", """{"roomId":"ROOM\n","key":"k","value":1}""", "invalid_room" },
        { "a key", "Set", """{"roomId":"ROOM","key":"k\n","value":1}""", "invalid_key" },
        { "a user id to grant", "Grant", """{"roomId":"ROOM","userId":"bob\n","role":"editor"}""", "invalid_argument" },
        { "a mutation id", "Set", """{"roomId":"ROOM","key":"k","value":1,"mutationId":"m-0001\n"}""", "invalid_argument" },
    };

    [Theory]
    [MemberData(nameof(TrailingNewlines))]
    public async Task A_trailing_newline_is_refused_in(string what, string method, string request, string code)
    {
        var room = TestClients.NewRoom("ids");
        await using var owner = await Server.ConnectAsync(NewUser("owner"));
        await owner.ResultOfAsync("Join", new { roomId = room });

        var outcome = await owner.InvokeAsync(method, request.Replace("ROOM", room, StringComparison.Ordinal));

        Assert.True(outcome.Code == code, $"{method} with a trailing newline in {what} got {outcome}");
        Assert.Empty(await owner.KeysAsync(room));
    }

    public static TheoryData<string, string, string?> BadNames() => new()
    {
        // What the name must show once cleaned, with its spaces left out (null: the user id).
        { "with NUL", "Ada\u0000Lovelace", "AdaLovelace" },
        { "with an ESC sequence", "Ada\u001b[31mRed", "Ada[31mRed" },
        { "with CR and LF", "Ada\r\nLovelace", "AdaLovelace" },
        { "with a right-to-left override", "Ada\u202Eecalevol", "Adaecalevol" },
        { "with isolates", "\u2066Ada\u2069 \u2067Lovelace\u2068", "AdaLovelace" },
        { "with direction marks", "Ada\u200E\u200FLovelace", "AdaLovelace" },
        { "with runs of white space", "Ada   \t  Lovelace", "AdaLovelace" },
        { "of nothing but such characters", "\u202E\u0000\u001b\r\n\u2066", null },
    };

    [Theory]
    [MemberData(nameof(BadNames))]
    public async Task A_token_name_goes_out_cleaned_in_presence_and_signals_when_it_is(string what, string name, string? visible)
    {
        var (userId, names) = await NamesSentForAsync(name);

        foreach (var (where, sent) in names)
        {
            AssertClean(sent, what, where);
            Assert.Equal(visible ?? userId, visible is null ? sent : sent.Replace(" ", "", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_token_name_of_10_KB_goes_out_cut_to_64_characters()
    {
        var (_, names) = await NamesSentForAsync(new string('n', 10 * 1024));

        foreach (var (where, sent) in names)
        {
            AssertClean(sent, "10 KB long", where);
            Assert.Matches("^n+…?$", sent);
        }
    }

    private static void AssertClean(string sent, string what, string where)
    {
        var shown = JsonSerializer.Serialize(sent);
        Assert.True(sent.Length is > 0 and <= MaxNameLength, $"a name {what} went out in {where} with {sent.Length} characters: {shown}");
        Assert.True(!sent.Any(IsForbidden), $"a name {what} went out in {where} as {shown}");
        Assert.True(!sent.Contains("  ", StringComparison.Ordinal), $"a name {what} went out in {where} with a run of spaces: {shown}");
    }

    /// <summary>
    /// A user whose token carries <paramref name="name"/> joins an owner's room and signals; returns every name the
    /// server sent out for that user, and where: the user's own JoinResult, and the owner's events (presence, Signaled).
    /// </summary>
    private async Task<(string UserId, List<(string Where, string Name)> Names)> NamesSentForAsync(string name)
    {
        var room = TestClients.NewRoom("names");
        var (ownerId, userId) = (NewUser("owner"), NewUser("user"));
        await using var owner = await Server.ConnectAsync(ownerId);
        await owner.ResultOfAsync("Join", new { roomId = room });
        await owner.ResultOfAsync("Grant", new { roomId = room, userId, role = "editor" });
        await using var user = await Server.ConnectAsync(userId, name);

        var joined = await user.ResultOfAsync("Join", new { roomId = room });
        await user.ResultOfAsync("Signal", new { roomId = room, payload = 1 });

        List<(string Where, string Name)> names = [];
        await Eventually.HoldsAsync(
            () =>
            {
                names = [.. NamesOf(userId, joined).Select(n => ("own JoinResult", n)),
                    .. owner.Events.SelectMany(e => NamesOf(userId, e).Select(n => (e.GetProperty("target").GetString()!, n)))];
                return names.Any(n => n.Where == "Signaled") && names.Any(n => n.Where is not "Signaled" and not "own JoinResult");
            },
            () => $"the owner to get the user's signal and presence; got: {string.Join(" | ", owner.Records)}");
        Assert.Contains(names, n => n.Where == "own JoinResult");
        return (userId, names);
    }

    /// <summary>Control characters (C0, DEL, C1), and the bidi embeddings, overrides, isolates and direction marks.</summary>
    private static bool IsForbidden(char c) => char.IsControl(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069' or '\u200E' or '\u200F';

    /// <summary>Every <c>name</c> in <paramref name="json"/> of an object about <paramref name="userId"/> (a presence entry's <c>userId</c>, a signal's <c>from</c>).</summary>
    private static IEnumerable<string> NamesOf(string userId, JsonElement json)
    {
        if (json.ValueKind == JsonValueKind.Object)
        {
            if (json.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                && ((json.TryGetProperty("userId", out var id) && id.ValueEquals(userId)) || (json.TryGetProperty("from", out var from) && from.ValueEquals(userId))))
            {
                yield return name.GetString()!;
            }
            foreach (var property in json.EnumerateObject())
            {
                foreach (var found in NamesOf(userId, property.Value))
                {
                    yield return found;
                }
            }
        }
        else if (json.ValueKind == JsonValueKind.Array)
        {
            foreach (var found in json.EnumerateArray().SelectMany(item => NamesOf(userId, item)))
            {
                yield return found;
            }
        }
    }

    public static TheoryData<string, string> BadSubjects() => new()
    {
        { "257 characters long", new string('s', 257) },
        { "with a NUL", "ada\u0000" },
        { "with a trailing newline", "ada\n" },
        { "with an ESC", "ada\u001b[0m" },
        { "with DEL", "ada\u007f" },
    };

    [Theory]
    [MemberData(nameof(BadSubjects))]
    public async Task A_token_is_refused_at_negotiate_when_its_sub_is(string what, string sub)
    {
        var status = await SecurityClients.NegotiateStatusAsync(Server.HubUrl, Server.Token(sub));

        Assert.True(status == 401, $"a token whose sub is {what} got {status} at negotiate");
    }

    [Fact]
    public async Task A_token_whose_sub_is_256_printable_characters_is_accepted()
    {
        Assert.Equal(200, await SecurityClients.NegotiateStatusAsync(Server.HubUrl, Server.Token(new string('s', 256))));
    }
}
