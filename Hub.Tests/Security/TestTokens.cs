using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CollabHub.Tests.Security;

/// <summary>JWTs made by hand (HS256 with HMACSHA256, RS256 with RSA), so tests can make any token, good or bad.</summary>
internal static class TestTokens
{
    /// <summary>The usual claims: sub, name, iss, aud, iat, nbf, exp (left out when null).</summary>
    public static Dictionary<string, object?> Claims(
        string sub, string? name, string issuer, string audience, DateTimeOffset? expires, DateTimeOffset? notBefore = null, IReadOnlyDictionary<string, object?>? extra = null)
    {
        var now = DateTimeOffset.UtcNow;
        var claims = new Dictionary<string, object?>
        {
            ["sub"] = sub,
            ["name"] = name,
            ["iss"] = issuer,
            ["aud"] = audience,
            ["iat"] = now.AddSeconds(-5).ToUnixTimeSeconds(),
            ["nbf"] = (notBefore ?? now.AddSeconds(-5)).ToUnixTimeSeconds(),
            ["exp"] = expires?.ToUnixTimeSeconds(),
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, object?>())
        {
            claims[key] = value;
        }
        foreach (var key in claims.Where(c => c.Value is null).Select(c => c.Key).ToList())
        {
            claims.Remove(key);
        }
        return claims;
    }

    public static string Hs256(byte[] key, IReadOnlyDictionary<string, object?> claims)
    {
        var input = Encode(new Dictionary<string, object?> { ["alg"] = "HS256", ["typ"] = "JWT" }) + "." + Encode(claims);
        return input + "." + Base64Url(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(input)));
    }

    public static string Rs256(RSA key, string keyId, IReadOnlyDictionary<string, object?> claims)
    {
        var input = Encode(new Dictionary<string, object?> { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = keyId }) + "." + Encode(claims);
        return input + "." + Base64Url(key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    /// <summary>An unsigned token (<c>alg: none</c>), which no server may accept.</summary>
    public static string Unsigned(IReadOnlyDictionary<string, object?> claims) =>
        Encode(new Dictionary<string, object?> { ["alg"] = "none", ["typ"] = "JWT" }) + "." + Encode(claims) + ".";

    /// <summary>The payload of a token, unverified.</summary>
    public static JsonElement Payload(string token) => JsonDocument.Parse(Base64UrlDecode(token.Split('.')[1])).RootElement.Clone();

    /// <summary>Whether <paramref name="token"/> carries a valid HS256 signature made with <paramref name="key"/>.</summary>
    public static bool IsSignedWith(string token, byte[] key)
    {
        var parts = token.Split('.');
        var expected = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
        return CryptographicOperations.FixedTimeEquals(expected, Base64UrlDecode(parts[2]));
    }

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Base64UrlDecode(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }

    private static string Encode(IReadOnlyDictionary<string, object?> json) => Base64Url(JsonSerializer.SerializeToUtf8Bytes(json));
}
