using System.Net;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary><c>POST /auth/dev-token</c> and the Development identities against a real Development server.</summary>
[Collection(SecuredServersCollection.Name)]
public sealed class DevelopmentAuthenticationTests(DevelopmentServerFixture fixture)
{
    [Fact]
    public async Task Dev_token_returns_a_short_lived_token_for_the_name()
    {
        var before = DateTimeOffset.UtcNow;

        var (status, body) = await SecurityClients.DevTokenAsync(fixture.Server.BaseUrl, """{"name":"  Ada Lovelace  "}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Ada Lovelace", body.GetProperty("userId").GetString());
        var expiresAt = body.GetProperty("expiresAt").GetDateTimeOffset();
        Assert.InRange(expiresAt, before + DevelopmentServerFixture.DevTokenLifetime - TimeSpan.FromSeconds(2), DateTimeOffset.UtcNow + DevelopmentServerFixture.DevTokenLifetime);
        var claims = TestTokens.Payload(body.GetProperty("accessToken").GetString()!);
        Assert.Equal("Ada Lovelace", claims.GetProperty("sub").GetString());
        Assert.Equal("Ada Lovelace", claims.GetProperty("name").GetString());
        Assert.Equal("collabhub", claims.GetProperty("iss").GetString());
        Assert.Equal("collabhub", claims.GetProperty("aud").GetString());
        Assert.Equal(expiresAt.ToUnixTimeSeconds(), claims.GetProperty("exp").GetInt64());
    }

    [Theory]
    [InlineData(TokenChannel.WebSocketHeader)]
    [InlineData(TokenChannel.WebSocketQuery)]
    public async Task A_token_from_dev_token_connects_as_its_name(TokenChannel channel)
    {
        var name = $"dev-{Guid.NewGuid():N}";
        var (_, body) = await SecurityClients.DevTokenAsync(fixture.Server.BaseUrl, JsonSerializer.Serialize(new { name }));
        var token = body.GetProperty("accessToken").GetString()!;
        await using var connection = await SecurityClients.ConnectAsync(fixture.Server.HubUrl, token, inQuery: channel == TokenChannel.WebSocketQuery);

        var (presence, entry) = await connection.JoinAndSetAsync(TestClients.NewRoom());

        var me = Assert.Single(presence.EnumerateArray());
        Assert.Equal((name, name), (me.GetProperty("userId").GetString(), me.GetProperty("name").GetString()));
        Assert.Equal(name, entry.GetProperty("by").GetString());
    }

    [Theory]
    [InlineData("""{"name":""}""")]
    [InlineData("""{"name":"   "}""")]
    [InlineData("""{"name":"bell\u0007"}""")]
    [InlineData("""{"name":"\ud800"}""")]
    [InlineData("""{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}""")]
    [InlineData("""{}""")]
    [InlineData("""{"name":42}""")]
    [InlineData("""not json""")]
    public async Task Dev_token_refuses_a_name_that_is_not_1_to_64_printable_characters(string json)
    {
        var (status, body) = await SecurityClients.DevTokenAsync(fixture.Server.BaseUrl, json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith("invalid_argument:", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Dev_token_wants_JSON()
    {
        var (status, _) = await SecurityClients.DevTokenAsync(fixture.Server.BaseUrl, "name=ada", "application/x-www-form-urlencoded");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
    }

    [Fact]
    public async Task In_Development_a_name_in_the_query_still_connects()
    {
        Assert.Equal(101, await SecurityClients.HandshakeStatusAsync(fixture.Server.HubUrl, token: null, inQuery: false, extraQuery: "name=ada"));
    }

    [Theory]
    [InlineData(TokenChannel.WebSocketHeader)]
    [InlineData(TokenChannel.WebSocketQuery)]
    public async Task In_Development_a_bad_token_is_refused_even_beside_a_name(TokenChannel channel)
    {
        var forged = TestTokens.Hs256(new byte[32], TestTokens.Claims("ada", "ada", "collabhub", "collabhub", DateTimeOffset.UtcNow.AddMinutes(5)));

        Assert.Equal(401, await SecurityClients.StatusAsync(fixture.Server.HubUrl, forged, channel, extraQuery: "name=ada"));
    }
}
