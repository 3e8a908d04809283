using System.Security.Cryptography;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CollabHub.Tests.Security;

/// <summary>
/// A minimal OpenID Connect provider on a loopback port, in the test process: a discovery document and a JWKS with
/// one RSA key. Enough for a hub configured with <c>CollabHub:Auth:Authority</c> to check the tokens it signs.
/// </summary>
internal sealed class FakeOidcProvider : IAsyncDisposable
{
    public const string KeyId = "test-key-1";

    private readonly WebApplication _app;
    private readonly RSA _key = RSA.Create(2048);

    private FakeOidcProvider(WebApplication app) => _app = app;

    /// <summary>The authority (and issuer): <c>http://127.0.0.1:port/realms/test</c>.</summary>
    public string Authority { get; private set; } = "";

    public static async Task<FakeOidcProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var provider = new FakeOidcProvider(builder.Build());
        var app = provider._app;
        app.MapGet("/realms/test/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = provider.Authority,
            ["jwks_uri"] = provider.Authority + "/protocol/openid-connect/certs",
            ["authorization_endpoint"] = provider.Authority + "/protocol/openid-connect/auth",
            ["token_endpoint"] = provider.Authority + "/protocol/openid-connect/token",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
        }));
        app.MapGet("/realms/test/protocol/openid-connect/certs", () =>
        {
            var parameters = provider._key.ExportParameters(includePrivateParameters: false);
            return Results.Json(new
            {
                keys = new[]
                {
                    new Dictionary<string, string>
                    {
                        ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = KeyId,
                        ["n"] = TestTokens.Base64Url(parameters.Modulus!), ["e"] = TestTokens.Base64Url(parameters.Exponent!),
                    },
                },
            });
        });
        await app.StartAsync().Within();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        provider.Authority = address.TrimEnd('/') + "/realms/test";
        return provider;
    }

    /// <summary>A token signed by this provider's key.</summary>
    public string Token(string sub, string? name, string audience, string? issuer = null, IReadOnlyDictionary<string, object?>? extra = null) =>
        TestTokens.Rs256(_key, KeyId, TestTokens.Claims(sub, name, issuer ?? Authority, audience, DateTimeOffset.UtcNow.AddMinutes(10), extra: extra));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().Within();
        await _app.DisposeAsync().AsTask().Within();
        _key.Dispose();
    }
}
