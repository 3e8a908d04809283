using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>
/// Issue 15, item 7: a JSON value or body with a duplicate key is refused (so every reader sees the same value), and
/// a token may not live longer than <c>CollabHub:Auth:MaxTokenLifetime</c> (24 hours by default).
/// </summary>
[Collection(AttackServerCollection.Name)]
public sealed class ValueAndTokenRuleTests(AttackServerFixture fixture)
{
    private PrivateProductionServer Server => fixture.Server;

    private static string NewUser(string name) => $"{name}-{Guid.NewGuid():N}";

    /// <summary>Requests as JSON (ROOM: a room the caller owns), each with one object that names a key twice.</summary>
    public static TheoryData<string, string, string> DuplicateKeys() => new()
    {
        { "a value", "Set", """{"roomId":"ROOM","key":"dup","value":{"a":1,"a":2}}""" },
        { "a nested object of a value", "Set", """{"roomId":"ROOM","key":"dup","value":{"x":{"b":1,"b":2}}}""" },
        { "an object in an array of a value", "Set", """{"roomId":"ROOM","key":"dup","value":[1,{"c":1,"c":2}]}""" },
        { "a value, once escaped", "Set", """{"roomId":"ROOM","key":"dup","value":{"a":1,"\u0061":2}}""" },
        { "a message body", "Post", """{"roomId":"ROOM","body":{"a":1,"a":2}}""" },
        { "a nested object of a message body", "Post", """{"roomId":"ROOM","body":{"x":{"b":1,"b":2}}}""" },
    };

    [Theory]
    [MemberData(nameof(DuplicateKeys))]
    public async Task A_duplicate_key_is_refused_and_nothing_is_stored_in(string what, string method, string request)
    {
        var room = TestClients.NewRoom("dup");
        await using var owner = await Server.ConnectAsync(NewUser("owner"));
        await owner.ResultOfAsync("Join", new { roomId = room });

        var outcome = await owner.InvokeAsync(method, request.Replace("ROOM", room, StringComparison.Ordinal));

        Assert.True(outcome.Code == "invalid_argument", $"{method} with a duplicate key in {what} got {outcome}");
        var sync = await owner.ResultOfAsync("Sync", new { roomId = room, sinceSeq = 0 });
        Assert.Equal(0, sync.GetProperty("seq").GetInt64());
    }

    public static TheoryData<string, bool, TimeSpan, int> Lifetimes() => new()
    {
        { "issued now, expiring in 10 years", true, TimeSpan.FromDays(3650), 401 },
        { "without iat, expiring in 48 hours", false, TimeSpan.FromHours(48), 401 },
        { "issued now, expiring in 1 hour", true, TimeSpan.FromHours(1), 200 },
        { "without iat, expiring in 1 hour", false, TimeSpan.FromHours(1), 200 },
    };

    [Theory]
    [MemberData(nameof(Lifetimes))]
    public async Task A_token_longer_lived_than_the_maximum_lifetime_is_refused_at_negotiate(string what, bool withIssuedAt, TimeSpan lifetime, int expected)
    {
        var claims = TestTokens.Claims(NewUser("ada"), null, ProductionServerFixture.Issuer, ProductionServerFixture.Audience, DateTimeOffset.UtcNow + lifetime);
        if (!withIssuedAt)
        {
            claims.Remove("iat");
        }

        var status = await SecurityClients.NegotiateStatusAsync(Server.HubUrl, Server.Token(claims));

        Assert.True(status == expected, $"a token {what} got {status} at negotiate, not {expected}");
    }
}
