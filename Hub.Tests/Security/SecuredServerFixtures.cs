using System.Security.Cryptography;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>The security tests share one Production and one Development server (each test uses its own rooms and users).</summary>
[CollectionDefinition(Name)]
public sealed class SecuredServersCollection : ICollectionFixture<ProductionServerFixture>, ICollectionFixture<DevelopmentServerFixture>
{
    public const string Name = "Secured servers";
}

/// <summary>A Production server that accepts HS256 tokens signed with <see cref="Key"/> and lets one web origin in.</summary>
public sealed class ProductionServerFixture : HubServerFixture
{
    public const string Issuer = "https://issuer.collabhub.test";
    public const string Audience = "collabhub-tests";
    public const string AllowedOrigin = "https://app.collabhub.test";

    public ProductionServerFixture()
        : this(RandomNumberGenerator.GetBytes(48))
    {
    }

    private ProductionServerFixture(byte[] key)
        : base(new Dictionary<string, string>
        {
            ["CollabHub:Auth:SigningKey"] = "base64:" + Convert.ToBase64String(key),
            ["CollabHub:Auth:Issuer"] = Issuer,
            ["CollabHub:Auth:Audience"] = Audience,
            ["CollabHub:Cors:AllowedOrigins:0"] = AllowedOrigin + "/",
        }, environment: "Production")
    {
        Key = key;
    }

    public byte[] Key { get; }

    /// <summary>A token this server accepts, unless the arguments spoil it.</summary>
    public string Token(string sub, string? name = null, TimeSpan? lifetime = null, string issuer = Issuer, string audience = Audience) =>
        TestTokens.Hs256(Key, TestTokens.Claims(sub, name, issuer, audience, DateTimeOffset.UtcNow + (lifetime ?? TimeSpan.FromMinutes(10))));
}

/// <summary>A Development server with no signing key configured (dev tokens use a random key) and dev tokens of 5 minutes.</summary>
public sealed class DevelopmentServerFixture() : HubServerFixture(new Dictionary<string, string>
{
    ["CollabHub:Auth:DevTokenLifetime"] = DevTokenLifetime.ToString(),
}, environment: "Development")
{
    public static readonly TimeSpan DevTokenLifetime = TimeSpan.FromMinutes(5);
}
