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
        // Validated at start-up, so it decodes.
        if (TryDecode(auth.SigningKey, out var configured, out _) && configured.Length > 0)
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

    /// <summary>
    /// Reads <c>CollabHub:Auth:SigningKey</c>: text (its UTF-8 bytes), or <see cref="AuthOptions.Base64Prefix"/> and
    /// base64; empty when none is set. False, with why, when the base64 does not decode.
    /// </summary>
    public static bool TryDecode(string? value, out byte[] bytes, out string error)
    {
        error = "";
        if (string.IsNullOrEmpty(value))
        {
            bytes = [];
            return true;
        }
        if (!value.StartsWith(AuthOptions.Base64Prefix, StringComparison.Ordinal))
        {
            bytes = System.Text.Encoding.UTF8.GetBytes(value);
            return true;
        }
        try
        {
            bytes = Convert.FromBase64String(value[AuthOptions.Base64Prefix.Length..]);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            error = $"starts with '{AuthOptions.Base64Prefix}' but the rest is not valid base64.";
            return false;
        }
    }
}
