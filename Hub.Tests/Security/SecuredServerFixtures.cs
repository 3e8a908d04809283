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
public sealed class ProductionServerFixture : IAsyncLifetime
{
    public const string Issuer = "https://issuer.collabhub.test";
    public const string Audience = "collabhub-tests";
    public const string AllowedOrigin = "https://app.collabhub.test";

    private readonly TempDirectory _folder = new();
    private HubServerProcess? _server;

    public byte[] Key { get; } = RandomNumberGenerator.GetBytes(48);

    internal HubServerProcess Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public async Task InitializeAsync() => _server = await HubServerProcess.StartAsync(_folder.File("collabhub.db"), new Dictionary<string, string>
    {
        ["CollabHub:Auth:SigningKey"] = "base64:" + Convert.ToBase64String(Key),
        ["CollabHub:Auth:Issuer"] = Issuer,
        ["CollabHub:Auth:Audience"] = Audience,
        ["CollabHub:Cors:AllowedOrigins:0"] = AllowedOrigin + "/",
    }, environment: "Production");

    /// <summary>A token this server accepts, unless the arguments spoil it.</summary>
    public string Token(string sub, string? name = null, TimeSpan? lifetime = null, string issuer = Issuer, string audience = Audience) =>
        TestTokens.Hs256(Key, TestTokens.Claims(sub, name, issuer, audience, DateTimeOffset.UtcNow + (lifetime ?? TimeSpan.FromMinutes(10))));

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        _folder.Dispose();
    }
}

/// <summary>A Development server with no signing key configured (dev tokens use a random key) and dev tokens of 5 minutes.</summary>
public sealed class DevelopmentServerFixture : IAsyncLifetime
{
    public static readonly TimeSpan DevTokenLifetime = TimeSpan.FromMinutes(5);

    private readonly TempDirectory _folder = new();
    private HubServerProcess? _server;

    internal HubServerProcess Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public async Task InitializeAsync() => _server = await HubServerProcess.StartAsync(_folder.File("collabhub.db"), new Dictionary<string, string>
    {
        ["CollabHub:Auth:DevTokenLifetime"] = DevTokenLifetime.ToString(),
    }, environment: "Development");

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        _folder.Dispose();
    }
}
