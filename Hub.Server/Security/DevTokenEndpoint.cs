using System.Security.Claims;
using System.Text.Json;
using CollabHub.Server.Configuration;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CollabHub.Server.Security;

/// <summary>
/// <c>POST /auth/dev-token</c> with <c>{ "name": "ada" }</c>: in Development only, a short-lived HS256 token for that
/// name (user id and display name both the name, as with <c>?name=</c>). Outside Development the endpoint is not
/// mapped, so it answers 404.
/// </summary>
internal static class DevTokenEndpoint
{
    public const string Path = "/auth/dev-token";
    private const int MaxBodyBytes = 4096;

    public sealed record Request(string? Name);

    public sealed record Response(string AccessToken, DateTimeOffset ExpiresAt, string UserId);

    /// <summary>A refusal: <c>{ "error": "invalid_argument: ..." }</c>, the code first as in hub errors.</summary>
    public sealed record Refusal(string Error);

    public static IEndpointConventionBuilder MapDevToken(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapPost(Path, IssueAsync).AllowAnonymous();

    private static async Task<IResult> IssueAsync(HttpContext context, TokenKeys keys, IOptions<CollabHubOptions> options, TimeProvider time)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }
        if (!context.Request.HasJsonContentType())
        {
            return Results.Json(new Refusal("invalid_argument: send JSON (Content-Type: application/json) such as {\"name\":\"ada\"}"),
                statusCode: StatusCodes.Status415UnsupportedMediaType);
        }
        Request? request;
        try
        {
            request = await context.Request.ReadFromJsonAsync<Request>(context.RequestAborted);
        }
        catch (JsonException)
        {
            return Results.BadRequest(new Refusal("invalid_argument: the body is not JSON such as {\"name\":\"ada\"}"));
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Results.Json(new Refusal($"too_large: the body may have at most {MaxBodyBytes} bytes"), statusCode: StatusCodes.Status413PayloadTooLarge);
        }
        if (!DisplayNames.TryNormalize(request?.Name, out var name))
        {
            return Results.BadRequest(new Refusal($"invalid_argument: {DisplayNames.Rule}"));
        }
        if (keys.SigningKey is null)
        {
            // Not reachable: the endpoint exists in Development only, where a key always exists.
            return Results.Problem("no signing key", statusCode: StatusCodes.Status500InternalServerError);
        }

        // JWT times are whole seconds: round so that expiresAt is exactly the token's exp.
        var now = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        var expires = now + options.Value.Auth.DevTokenLifetime;
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = keys.Issuer,
            Audience = keys.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Subject = new ClaimsIdentity(
            [
                new Claim(UserIdentity.SubjectClaim, name),
                new Claim(UserIdentity.NameClaim, name),
                new Claim(JwtRegisteredClaimNames.Jti, Guid.NewGuid().ToString("N")),
            ]),
            SigningCredentials = new SigningCredentials(keys.SigningKey, SecurityAlgorithms.HmacSha256),
        });
        context.Response.Headers.CacheControl = "no-store";
        return Results.Ok(new Response(token, expires, name));
    }
}
