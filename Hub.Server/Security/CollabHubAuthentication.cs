using System.Security.Claims;
using CollabHub.Server.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using Microsoft.Net.Http.Headers;

namespace CollabHub.Server.Security;

/// <summary>
/// Who is connecting. The default scheme is a policy scheme: a request that carries a token (an <c>Authorization</c>
/// header, or <c>access_token</c> in the query) goes to JwtBearer; without one, in Development, to the <c>?name=</c>
/// scheme (<see cref="DevelopmentIdentityHandler"/>). Outside Development everything goes to JwtBearer, so a request
/// without a valid token is challenged with 401 and <c>WWW-Authenticate: Bearer</c>.
/// </summary>
internal static class CollabHubAuthentication
{
    public const string Scheme = "CollabHub";
    public const string AccessTokenQuery = "access_token";

    public static IServiceCollection AddCollabHubAuthentication(this IServiceCollection services, IHostEnvironment environment, string hubPath)
    {
        var isDevelopment = environment.IsDevelopment();
        services.AddSingleton<TokenKeys>();
        services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "Bearer token, or ?name= in Development", policy =>
                policy.ForwardDefaultSelector = context => SelectScheme(context.Request, isDevelopment))
            .AddJwtBearer()
            .AddScheme<AuthenticationSchemeOptions, DevelopmentIdentityHandler>(DevelopmentIdentityHandler.SchemeName, null);
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<CollabHubOptions>, TokenKeys, TimeProvider>((jwt, options, keys, clock) => ConfigureJwtBearer(jwt, options.Value.Auth, keys, clock, hubPath));
        services.AddAuthorization();
        return services;
    }

    /// <summary>Which scheme authenticates <paramref name="request"/>.</summary>
    public static string SelectScheme(HttpRequest request, bool isDevelopment) =>
        !isDevelopment || request.Headers.ContainsKey(HeaderNames.Authorization) || request.Query.ContainsKey(AccessTokenQuery)
            ? JwtBearerDefaults.AuthenticationScheme
            : DevelopmentIdentityHandler.SchemeName;

    /// <summary>
    /// The effective <see cref="AuthOptions.RequireHttpsMetadata"/>: as set, or else true unless the Authority is on
    /// this machine (so its metadata may come over plain http).
    /// </summary>
    public static bool RequiresHttpsMetadata(AuthOptions auth) =>
        auth.RequireHttpsMetadata ?? !(Uri.TryCreate(auth.Authority, UriKind.Absolute, out var uri) && uri.IsLoopback);

    private static void ConfigureJwtBearer(JwtBearerOptions jwt, AuthOptions auth, TokenKeys keys, TimeProvider clock, string hubPath)
    {
        // Claims keep their JWT names (sub, name), which UserIdentity reads.
        jwt.MapInboundClaims = false;
        if (auth.Authority.Length > 0)
        {
            jwt.Authority = auth.Authority;
            jwt.RequireHttpsMetadata = RequiresHttpsMetadata(auth);
        }

        // With an Authority, JwtBearer adds the issuer and keys of its discovery document to these.
        List<string> issuers = [];
        if (auth.Issuer.Length > 0)
        {
            issuers.Add(auth.Issuer);
        }
        else if (keys.SigningKey is not null)
        {
            issuers.Add(keys.Issuer);
        }
        jwt.TokenValidationParameters = new TokenValidationParameters
        {
            ValidateIssuer = true,
            ValidIssuers = issuers.Count > 0 ? issuers : null,
            ValidateAudience = true,
            ValidAudience = auth.Audience,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            IssuerSigningKey = keys.SigningKey,
            // Without an Authority the only key is the HS256 one: accept nothing else.
            ValidAlgorithms = auth.Authority.Length > 0 ? null : [SecurityAlgorithms.HmacSha256],
            ClockSkew = auth.ClockSkew,
            NameClaimType = UserIdentity.NameClaim,
            RoleClaimType = "role",
        };
        jwt.Events = new JwtBearerEvents
        {
            OnMessageReceived = context =>
            {
                if (string.IsNullOrEmpty(context.Token) && !context.Request.Headers.ContainsKey(HeaderNames.Authorization)
                    && context.Request.Query.TryGetValue(AccessTokenQuery, out var token) && AcceptsQueryToken(context.HttpContext, hubPath))
                {
                    context.Token = token.ToString();
                }
                return Task.CompletedTask;
            },
            OnTokenValidated = context =>
            {
                if (context.Principal?.FindFirst(UserIdentity.SubjectClaim)?.Value is not { Length: > 0 } subject)
                {
                    context.Fail("the token has no sub claim");
                }
                else if (!DisplayNames.IsValidUserId(subject))
                {
                    context.Fail($"the token's sub must be 1 to {DisplayNames.MaxUserIdLength} characters without control characters");
                }
                else if (LifetimeTooLong(context.Principal, auth.MaxTokenLifetime, clock) is { } reason)
                {
                    context.Fail(reason);
                }
                else if (auth.NameClaim != UserIdentity.NameClaim)
                {
                    UseNameClaim(context.Principal, auth.NameClaim);
                }
                return Task.CompletedTask;
            },
        };
    }

    /// <summary>
    /// Why a token lives too long, if it does: <c>exp - iat</c> above <paramref name="maxLifetime"/>, or, without
    /// <c>iat</c>, an <c>exp</c> further than that from now. A long-lived token that leaks stays useful for long.
    /// </summary>
    private static string? LifetimeTooLong(ClaimsPrincipal principal, TimeSpan maxLifetime, TimeProvider clock)
    {
        if (!long.TryParse(principal.FindFirst("exp")?.Value, out var expires))
        {
            return null; // RequireExpirationTime already refused tokens without exp.
        }
        var issued = long.TryParse(principal.FindFirst("iat")?.Value, out var iat) ? iat : clock.GetUtcNow().ToUnixTimeSeconds();
        return expires - issued > (long)maxLifetime.TotalSeconds
            ? $"the token is valid for longer than CollabHub:Auth:MaxTokenLifetime ({maxLifetime})"
            : null;
    }

    /// <summary>Makes the value of <paramref name="nameClaim"/>, when the token has it, the <c>name</c> that UserIdentity reads.</summary>
    private static void UseNameClaim(ClaimsPrincipal principal, string nameClaim)
    {
        if (principal.Identity is not ClaimsIdentity identity || identity.FindFirst(nameClaim)?.Value is not { Length: > 0 } name)
        {
            return;
        }
        foreach (var claim in identity.FindAll(UserIdentity.NameClaim).ToList())
        {
            identity.RemoveClaim(claim);
        }
        identity.AddClaim(new Claim(UserIdentity.NameClaim, name));
    }

    /// <summary>
    /// Browsers cannot set headers on WebSockets and EventSource, so those requests to the hub may carry the token as
    /// <c>?access_token=</c>. Every other request (negotiate, long polling, SSE sends) must use the header, which keeps
    /// tokens out of more URLs (and logs).
    /// </summary>
    public static bool AcceptsQueryToken(HttpContext context, string hubPath)
    {
        var request = context.Request;
        if (!request.Path.StartsWithSegments(hubPath, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        // WebSocket: an HTTP/1.1 upgrade, or an HTTP/2 extended CONNECT with :protocol websocket.
        if (HttpMethods.IsGet(request.Method) && request.Headers.Upgrade.ToString().Contains("websocket", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        if (HttpMethods.IsConnect(request.Method)
            && context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true, Protocol: var protocol }
            && string.Equals(protocol, "websocket", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        // Server-Sent Events: the EventSource GET.
        return HttpMethods.IsGet(request.Method) && request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Logs, once at start-up, which tokens are accepted, and warns when none can be.</summary>
    public static void ReportAuthentication(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(SecurityLog.Category);
        var settings = app.Services.GetRequiredService<IOptions<CollabHubOptions>>().Value;
        var auth = settings.Auth;
        var keys = app.Services.GetRequiredService<TokenKeys>();
        List<string> sources = [];
        if (keys.SigningKey is not null)
        {
            sources.Add($"signed with {(keys.IsRandom ? "a random start-up key" : "CollabHub:Auth:SigningKey")} (HS256, issuer {(auth.Issuer.Length > 0 ? auth.Issuer : keys.Issuer)})");
        }
        if (auth.Authority.Length > 0)
        {
            sources.Add($"from the authority {auth.Authority}{(auth.Issuer.Length > 0 ? $" (issuer {auth.Issuer})" : "")}");
        }
        if (sources.Count == 0)
        {
            SecurityLog.NoTokenSource(logger, app.Environment.EnvironmentName);
            return;
        }
        SecurityLog.TokenSources(logger, string.Join(" and ", sources), keys.Audience);
        if (app.Environment.IsDevelopment())
        {
            SecurityLog.DevelopmentIdentities(logger);
            if (keys.IsRandom && !string.IsNullOrWhiteSpace(settings.Redis))
            {
                SecurityLog.RandomDevelopmentKeyInCluster(logger);
            }
            else if (keys.IsRandom)
            {
                SecurityLog.RandomDevelopmentKeyAlone(logger);
            }
        }
    }
}
