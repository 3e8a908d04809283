using System.Net;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Tests.Security;

/// <summary>Bearer tokens against a real Production server: only a valid token gets in, and it decides who the user is.</summary>
[Collection(SecuredServersCollection.Name)]
public sealed class ProductionAuthenticationTests(ProductionServerFixture fixture)
{
    public static TheoryData<string, TokenChannel> BadTokens()
    {
        var data = new TheoryData<string, TokenChannel>();
        foreach (var kind in new[] { "none", "expired", "wrongly signed", "wrong issuer", "wrong audience", "not yet valid", "without exp", "without sub", "unsigned", "not a JWT" })
        {
            foreach (var channel in Enum.GetValues<TokenChannel>())
            {
                data.Add(kind, channel);
            }
        }
        return data;
    }

    private string? BadToken(string kind)
    {
        var now = DateTimeOffset.UtcNow;
        var valid = TestTokens.Claims("mallory", "Mallory", ProductionServerFixture.Issuer, ProductionServerFixture.Audience, now.AddMinutes(10));
        Dictionary<string, object?> With(string claim, object? value)
        {
            var claims = new Dictionary<string, object?>(valid) { [claim] = value };
            return value is null ? claims.Where(c => c.Key != claim).ToDictionary() : claims;
        }
        return kind switch
        {
            "none" => null,
            // Ten minutes past exp: beyond the default clock skew of one minute.
            "expired" => TestTokens.Hs256(fixture.Key, With("exp", now.AddMinutes(-10).ToUnixTimeSeconds())),
            "wrongly signed" => TestTokens.Hs256(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48), valid),
            "wrong issuer" => TestTokens.Hs256(fixture.Key, With("iss", "https://someone-else.test")),
            "wrong audience" => TestTokens.Hs256(fixture.Key, With("aud", "another-app")),
            "not yet valid" => TestTokens.Hs256(fixture.Key, With("nbf", now.AddMinutes(10).ToUnixTimeSeconds())),
            "without exp" => TestTokens.Hs256(fixture.Key, With("exp", null)),
            "without sub" => TestTokens.Hs256(fixture.Key, With("sub", null)),
            "unsigned" => TestTokens.Unsigned(valid),
            "not a JWT" => "hello",
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task A_missing_or_bad_token_is_refused_with_401_before_it_reaches_the_hub(string kind, TokenChannel channel)
    {
        Assert.Equal(401, await SecurityClients.StatusAsync(fixture.Server.HubUrl, BadToken(kind), channel));
    }

    [Theory]
    [InlineData(TokenChannel.WebSocketHeader)]
    [InlineData(TokenChannel.WebSocketQuery)]
    [InlineData(TokenChannel.Negotiate)]
    public async Task A_valid_token_is_let_in_over_each_channel(TokenChannel channel)
    {
        var expected = channel == TokenChannel.Negotiate ? 200 : 101;
        Assert.Equal(expected, await SecurityClients.StatusAsync(fixture.Server.HubUrl, fixture.Token("ada"), channel));
    }

    [Fact]
    public async Task The_refusal_says_Bearer_and_why_in_WWW_Authenticate()
    {
        using var missing = await SecurityClients.NegotiateAsync(fixture.Server.HubUrl, token: null);
        using var expired = await SecurityClients.NegotiateAsync(fixture.Server.HubUrl, fixture.Token("ada", lifetime: TimeSpan.FromMinutes(-10)));

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Contains("invalid_token", expired.Headers.WwwAuthenticate.Single().Parameter);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_valid_token_connects_and_its_sub_and_name_are_the_writer_and_the_presence(bool inQuery)
    {
        var sub = $"user-{Guid.NewGuid():N}";
        await using var connection = await SecurityClients.ConnectAsync(fixture.Server.HubUrl, fixture.Token(sub, "Ada Lovelace"), inQuery);

        var (presence, entry) = await connection.JoinAndSetAsync(TestClients.NewRoom());

        var me = Assert.Single(presence.EnumerateArray());
        Assert.Equal(sub, me.GetProperty("userId").GetString());
        Assert.Equal("Ada Lovelace", me.GetProperty("name").GetString());
        Assert.Equal(sub, entry.GetProperty("by").GetString());
    }

    [Fact]
    public async Task A_token_without_a_name_shows_its_sub_as_the_name()
    {
        await using var connection = await SecurityClients.ConnectAsync(fixture.Server.HubUrl, fixture.Token("no-name-user"));

        var (presence, _) = await connection.JoinAndSetAsync(TestClients.NewRoom());

        Assert.Equal("no-name-user", Assert.Single(presence.EnumerateArray()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task Outside_Development_a_name_in_the_query_is_no_identity()
    {
        Assert.Equal(401, await SecurityClients.HandshakeStatusAsync(fixture.Server.HubUrl, token: null, inQuery: false, extraQuery: "name=ada"));
    }

    [Fact]
    public async Task An_access_token_in_the_query_is_not_taken_on_negotiate_which_needs_the_header()
    {
        var query = "access_token=" + Uri.EscapeDataString(fixture.Token("ada"));

        Assert.Equal(401, await SecurityClients.NegotiateStatusAsync(fixture.Server.HubUrl, token: null, extraQuery: query));
    }

    [Fact]
    public async Task An_access_token_in_the_query_opens_a_Server_Sent_Events_stream()
    {
        var token = fixture.Token("sse-user");
        using var negotiate = await SecurityClients.NegotiateAsync(fixture.Server.HubUrl, token);
        var connectionToken = JsonDocument.Parse(await negotiate.Content.ReadAsStringAsync().Within()).RootElement.GetProperty("connectionToken").GetString()!;

        var url = new UriBuilder(fixture.Server.HubUrl) { Query = $"id={connectionToken}&access_token={Uri.EscapeDataString(token)}" }.Uri;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await SecurityClients.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).Within();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_connection_is_closed_when_its_token_expires()
    {
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var connection = await SecurityClients.ConnectAsync(fixture.Server.HubUrl, fixture.Token("short-lived", lifetime: TimeSpan.FromSeconds(4)));
        connection.Closed += error =>
        {
            closed.TrySetResult(error);
            return Task.CompletedTask;
        };
        await connection.InvokeAsync<JsonElement>("Join", new { roomId = TestClients.NewRoom() }).Within();

        await closed.Task.Within();

        Assert.Equal(HubConnectionState.Disconnected, connection.State);
    }

    [Fact]
    public async Task Outside_Development_there_is_no_dev_token_endpoint()
    {
        var (status, _) = await SecurityClients.DevTokenAsync(fixture.Server.BaseUrl, """{"name":"ada"}""");

        Assert.Equal(HttpStatusCode.NotFound, status);
    }
}
