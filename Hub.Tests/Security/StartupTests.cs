using System.Net;
using System.Security.Cryptography;
using CollabHub.Server.Configuration;
using CollabHub.Server.Security;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>How the auth settings are checked at start-up, and servers set up in other ways than the shared ones.</summary>
public sealed class StartupTests
{
    private static IEnumerable<string> Failures(Action<CollabHubOptions> configure)
    {
        var options = new CollabHubOptions();
        configure(options);
        var result = new CollabHubOptionsValidator().Validate(null, options);
        return result.Failed ? result.Failures : [];
    }

    [Fact]
    public void The_default_settings_are_valid()
    {
        Assert.Empty(Failures(_ => { }));
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcde", "is 31 bytes")]
    [InlineData("base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "is 29 bytes")]
    [InlineData("base64:not base64!", "not valid base64")]
    public void A_signing_key_that_is_short_or_not_base64_is_refused_with_a_message_naming_the_key(string key, string why)
    {
        var failure = Assert.Single(Failures(o => o.Auth.SigningKey = key));

        Assert.Contains("CollabHub:Auth:SigningKey", failure);
        Assert.Contains(why, failure);
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef")]
    [InlineData("base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    public void A_signing_key_of_32_bytes_is_enough(string key)
    {
        Assert.Empty(Failures(o => o.Auth.SigningKey = key));
    }

    [Theory]
    [InlineData("https://login.example.com/realms/collab", null, true)]
    [InlineData("http://localhost:8080/realms/collab", null, true)]
    [InlineData("http://127.0.0.1:8080/realms/collab", null, true)]
    [InlineData("http://login.example.com/realms/collab", null, false)]
    [InlineData("http://login.example.com/realms/collab", false, true)]
    [InlineData("login.example.com", null, false)]
    [InlineData("ftp://login.example.com", null, false)]
    public void An_authority_must_be_https_unless_it_is_on_loopback_or_told_otherwise(string authority, bool? requireHttps, bool valid)
    {
        var failures = Failures(o =>
        {
            o.Auth.Authority = authority;
            o.Auth.RequireHttpsMetadata = requireHttps;
        });

        Assert.Equal(valid, !failures.Any());
        Assert.All(failures, f => Assert.Contains("CollabHub:Auth:Authority", f));
    }

    [Theory]
    [InlineData("https://app.example.com", true)]
    [InlineData("https://app.example.com/", true)]
    [InlineData("http://localhost:3000", true)]
    [InlineData("https://app.example.com/path", false)]
    [InlineData("*", false)]
    [InlineData("https://*.example.com", false)]
    [InlineData("app.example.com", false)]
    public void Allowed_origins_must_be_origins(string origin, bool valid)
    {
        var failures = Failures(o => o.Cors.AllowedOrigins = [origin]);

        Assert.Equal(valid, !failures.Any());
    }

    [Fact]
    public void Allowed_origins_are_compared_as_browsers_send_them()
    {
        string[] allowed = ["HTTPS://App.Example.com/", "https://app.example.com:443", "http://localhost:3000"];

        Assert.Equal(["https://app.example.com", "http://localhost:3000"], CorsSetup.NormalizedOrigins(allowed));
    }

    [Fact]
    public async Task A_short_signing_key_stops_the_server_at_start_up_with_a_clear_message()
    {
        using var folder = new TempDirectory();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => HubServerProcess.StartAsync(folder.File("collabhub.db"),
            new Dictionary<string, string> { ["CollabHub:Auth:SigningKey"] = "too-short" }, environment: "Production"));

        Assert.Contains("CollabHub:Auth:SigningKey is 9 bytes; an HS256 key needs at least 32 bytes", error.Message);
    }

    [Fact]
    public async Task Outside_Development_without_a_key_or_authority_the_server_warns_that_it_refuses_everyone()
    {
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), environment: "Production");
        var token = TestTokens.Hs256(RandomNumberGenerator.GetBytes(32), TestTokens.Claims("ada", "ada", "collabhub", "collabhub", DateTimeOffset.UtcNow.AddMinutes(5)));

        Assert.Equal(401, await SecurityClients.HandshakeStatusAsync(server.HubUrl, token, inQuery: false));
        Assert.Contains("every hub connection will be refused with 401", server.Output);
        Assert.Contains("[7201]", server.Output);
    }

    [Fact]
    public async Task In_Development_with_a_signing_key_dev_tokens_are_signed_with_it_and_tokens_made_elsewhere_with_it_connect()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), new Dictionary<string, string>
        {
            ["CollabHub:Auth:SigningKey"] = "base64:" + Convert.ToBase64String(key),
        }, environment: "Development");

        var (status, body) = await SecurityClients.DevTokenAsync(server.BaseUrl, """{"name":"ada"}""");
        var minted = TestTokens.Hs256(key, TestTokens.Claims("backend-user", "Bo", "collabhub", "collabhub", DateTimeOffset.UtcNow.AddMinutes(5)));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(TestTokens.IsSignedWith(body.GetProperty("accessToken").GetString()!, key));
        Assert.Equal(101, await SecurityClients.HandshakeStatusAsync(server.HubUrl, minted, inQuery: false));
        Assert.DoesNotContain("[7203]", server.Output);
    }

    [Fact]
    public async Task With_an_authority_the_hub_takes_the_providers_tokens_with_their_sub_and_the_configured_name_claim()
    {
        await using var provider = await FakeOidcProvider.StartAsync();
        using var folder = new TempDirectory();
        await using var server = await HubServerProcess.StartAsync(folder.File("collabhub.db"), new Dictionary<string, string>
        {
            ["CollabHub:Auth:Authority"] = provider.Authority,
            ["CollabHub:Auth:Audience"] = "collabhub-web",
            ["CollabHub:Auth:NameClaim"] = "preferred_username",
        }, environment: "Production");

        async Task<(string? UserId, string? Name, string? By)> ConnectAsync(string token)
        {
            await using var connection = await SecurityClients.ConnectAsync(server.HubUrl, token);
            var (presence, entry) = await connection.JoinAndSetAsync(TestClients.NewRoom());
            var me = Assert.Single(presence.EnumerateArray());
            return (me.GetProperty("userId").GetString(), me.GetProperty("name").GetString(), entry.GetProperty("by").GetString());
        }

        var extra = new Dictionary<string, object?> { ["preferred_username"] = "grace" };
        Assert.Equal(("kc-123", "grace", "kc-123"), await ConnectAsync(provider.Token("kc-123", "Grace Hopper", "collabhub-web", extra: extra)));
        Assert.Equal(("kc-456", "Alan Turing", "kc-456"), await ConnectAsync(provider.Token("kc-456", "Alan Turing", "collabhub-web")));
        Assert.Equal(401, await SecurityClients.HandshakeStatusAsync(server.HubUrl, provider.Token("kc-123", null, "another-client"), inQuery: false));
        Assert.Equal(401, await SecurityClients.HandshakeStatusAsync(server.HubUrl, provider.Token("kc-123", null, "collabhub-web", issuer: "https://other.test"), inQuery: false));
        Assert.Equal(401, await SecurityClients.HandshakeStatusAsync(server.HubUrl,
            TestTokens.Hs256(RandomNumberGenerator.GetBytes(32), TestTokens.Claims("kc-123", null, provider.Authority, "collabhub-web", DateTimeOffset.UtcNow.AddMinutes(5))), inQuery: false));
    }
}
