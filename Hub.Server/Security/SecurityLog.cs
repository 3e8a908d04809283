namespace CollabHub.Server.Security;

/// <summary>Start-up reports of the security setup (event ids 7201–7209).</summary>
internal static partial class SecurityLog
{
    public const string Category = "CollabHub.Server.Security";

    [LoggerMessage(EventId = 7201, Level = LogLevel.Warning,
        Message = "Neither CollabHub:Auth:SigningKey nor CollabHub:Auth:Authority is set, and the environment is {Environment}, not Development: " +
                  "every hub connection will be refused with 401. Set one of them (see docs/security.md).")]
    public static partial void NoTokenSource(ILogger logger, string environment);

    [LoggerMessage(EventId = 7202, Level = LogLevel.Information,
        Message = "Accepting bearer tokens {Sources}, audience {Audience}")]
    public static partial void TokenSources(ILogger logger, string sources, string audience);

    [LoggerMessage(EventId = 7205, Level = LogLevel.Information,
        Message = "Development: CollabHub:Auth:SigningKey is not set, so POST /auth/dev-token signs with a random key made at start-up; " +
                  "its tokens stop working when this process restarts. Set a SigningKey to keep them, and on every instance of a cluster.")]
    public static partial void RandomDevelopmentKeyAlone(ILogger logger);

    [LoggerMessage(EventId = 7204, Level = LogLevel.Information,
        Message = "Development environment: anyone can connect as anyone with ?name= or POST /auth/dev-token. Never expose a Development server.")]
    public static partial void DevelopmentIdentities(ILogger logger);

    [LoggerMessage(EventId = 7203, Level = LogLevel.Warning,
        Message = "Development with CollabHub:Redis set, so this instance joins a cluster, but CollabHub:Auth:SigningKey is not set: its dev tokens are " +
                  "signed with a random key that no other instance accepts, and clients whose token and hub connection reach different instances " +
                  "get 401. Give every instance the same key, e.g. CollabHub__Auth__SigningKey=base64:$(openssl rand -base64 48).")]
    public static partial void RandomDevelopmentKeyInCluster(ILogger logger);
}
