using System.Net;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>CORS for the hub and the security headers, against real Production and Development servers.</summary>
[Collection(SecuredServersCollection.Name)]
public sealed class CorsAndHeadersTests(ProductionServerFixture production, DevelopmentServerFixture development)
{
    private const string Csp =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
        "font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

    private static async Task<HttpResponseMessage> PreflightAsync(Uri hubUrl, string origin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, new Uri(hubUrl + "/negotiate?negotiateVersion=1"));
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "authorization,content-type,x-requested-with,x-signalr-user-agent");
        return await SecurityClients.Http.SendAsync(request).Within();
    }

    [Fact]
    public async Task A_preflight_from_an_allowed_origin_passes_with_credentials()
    {
        using var response = await PreflightAsync(production.Server.HubUrl, ProductionServerFixture.AllowedOrigin);

        Assert.True(response.IsSuccessStatusCode, $"status {response.StatusCode}");
        Assert.Equal(ProductionServerFixture.AllowedOrigin, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("true", response.Headers.GetValues("Access-Control-Allow-Credentials").Single());
        Assert.Contains("POST", response.Headers.GetValues("Access-Control-Allow-Methods").Single());
        Assert.Contains("authorization", response.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_preflight_from_another_origin_gets_no_CORS_headers()
    {
        using var response = await PreflightAsync(production.Server.HubUrl, "https://evil.example");

        Assert.DoesNotContain(response.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task A_cross_origin_negotiate_from_an_allowed_origin_may_be_read_and_from_another_may_not()
    {
        async Task<string?> AllowOriginAsync(string origin)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(production.Server.HubUrl + "/negotiate?negotiateVersion=1"));
            request.Headers.Add("Origin", origin);
            request.Headers.Authorization = new("Bearer", production.Token("ada"));
            using var response = await SecurityClients.Http.SendAsync(request).Within();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.Single() : null;
        }

        Assert.Equal(ProductionServerFixture.AllowedOrigin, await AllowOriginAsync(ProductionServerFixture.AllowedOrigin));
        Assert.Null(await AllowOriginAsync("https://evil.example"));
    }

    [Fact]
    public async Task In_Development_with_no_allowed_origins_any_origin_passes_the_preflight()
    {
        using var response = await PreflightAsync(development.Server.HubUrl, "http://localhost:3000");

        Assert.Equal("http://localhost:3000", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("true", response.Headers.GetValues("Access-Control-Allow-Credentials").Single());
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/index.html")]
    [InlineData("/healthz")]
    [InlineData("/no-such-file")]
    public async Task Every_response_carries_the_security_headers(string path)
    {
        using var response = await SecurityClients.Http.GetAsync(new Uri(production.Server.BaseUrl, path)).Within();

        Assert.Equal(Csp, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
    }

    [Fact]
    public async Task The_page_is_served_with_the_security_headers()
    {
        using var response = await SecurityClients.Http.GetAsync(production.Server.BaseUrl).Within();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.Contains("Content-Security-Policy"));
    }
}
