using System.Security.Cryptography;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace CollabHub.Server.Security;

/// <summary>
/// The HS256 key this server checks (and, in Development, signs) tokens with, and the issuer and audience that go
/// with it: <c>CollabHub:Auth:SigningKey</c>, or in Development without one a random key made at start-up.
/// </summary>
internal sealed class TokenKeys
{
    public const int RandomKeyBytes = 32;

    public TokenKeys(IOptions<CollabHubOptions> options, IHostEnvironment environment)
    {
        var auth = options.Value.Auth;
        var configured = auth.SigningKeyBytes();
        if (configured.Length > 0)
        {
            SigningKey = new SymmetricSecurityKey(configured) { KeyId = "collabhub" };
        }
        else if (environment.IsDevelopment())
        {
            SigningKey = new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(RandomKeyBytes)) { KeyId = "collabhub-dev" };
            IsRandom = true;
        }
        Issuer = string.IsNullOrEmpty(auth.Issuer) ? AuthOptions.DefaultIssuer : auth.Issuer;
        Audience = auth.Audience;
    }

    /// <summary>The key, or null when none is configured outside Development.</summary>
    public SymmetricSecurityKey? SigningKey { get; }

    /// <summary>True when <see cref="SigningKey"/> was made at start-up (Development without a configured key).</summary>
    public bool IsRandom { get; }

    /// <summary>The <c>iss</c> of tokens signed with <see cref="SigningKey"/>.</summary>
    public string Issuer { get; }

    /// <summary>The <c>aud</c> every token must carry.</summary>
    public string Audience { get; }
}
