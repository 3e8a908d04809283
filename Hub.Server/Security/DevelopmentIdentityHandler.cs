using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Security;

/// <summary>
/// In the Development environment only: a connection that names itself with <c>?name=...</c> is that user
/// (id and name both the given name). Outside Development this scheme authenticates no one (and
/// <see cref="CollabHubAuthentication"/> never selects it), so the hub refuses connections without a valid token with 401.
/// </summary>
internal sealed class DevelopmentIdentityHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IHostEnvironment environment)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Development";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!environment.IsDevelopment() || !Request.Query.TryGetValue("name", out var values))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        if (!DisplayNames.TryNormalize(values.ToString(), out var name))
        {
            return Task.FromResult(AuthenticateResult.Fail(DisplayNames.Rule));
        }
        var identity = new ClaimsIdentity(
            [new Claim(UserIdentity.SubjectClaim, name), new Claim(UserIdentity.NameClaim, name)],
            SchemeName,
            UserIdentity.NameClaim,
            roleType: null);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.ContentType = "text/plain; charset=utf-8";
        var hint = environment.IsDevelopment()
            ? "unauthenticated: connect with ?name=<your name> or a bearer token (POST /auth/dev-token gives one; Development only)"
            : "unauthenticated: a user identity is required";
        return Response.WriteAsync(hint);
    }
}
