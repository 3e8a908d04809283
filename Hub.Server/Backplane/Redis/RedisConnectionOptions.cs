using System.Globalization;
using System.Net;
using System.Text;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>One Redis server address. IPv6 literals are written in brackets: <c>[::1]:6379</c>.</summary>
internal readonly record struct RedisEndPoint(string Host, int Port)
{
    public override string ToString() =>
        Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>
/// How to reach Redis, parsed from a StackExchange.Redis-style connection string such as
/// <c>127.0.0.1:6379,password=secret,ssl=true,defaultDatabase=2</c>, so operators can reuse the strings they know.
/// </summary>
/// <remarks>
/// Keys are case-insensitive; a key given twice keeps its last value. Several endpoints are tried in order on every
/// connect (no cluster or sentinel support: the first that answers is used). Keys we do not know fail the parse
/// rather than being ignored, so a typo in production is caught at start-up. <see cref="ToString"/> masks the
/// password: the string is safe to log.
/// </remarks>
internal sealed record RedisConnectionOptions
{
    public const int DefaultPort = 6379;

    /// <summary>The servers to try, in order. At least one.</summary>
    public IReadOnlyList<RedisEndPoint> EndPoints { get; init; } = [new RedisEndPoint("localhost", DefaultPort)];

    /// <summary><c>password=</c>: sent with <c>AUTH</c> after connecting. Default none.</summary>
    public string? Password { get; init; }

    /// <summary><c>user=</c>: the ACL user (Redis 6+); used only together with a password. Default none (the default user).</summary>
    public string? User { get; init; }

    /// <summary><c>ssl=</c>: connect with TLS. Default false.</summary>
    public bool Ssl { get; init; }

    /// <summary><c>sslHost=</c>: the name the server's certificate must carry. Default: the endpoint's host.</summary>
    public string? SslHost { get; init; }

    /// <summary><c>defaultDatabase=</c>: selected with <c>SELECT</c> after connecting. Default none (database 0).</summary>
    public int? DefaultDatabase { get; init; }

    /// <summary><c>connectTimeout=</c> (milliseconds): per endpoint, TCP and TLS together. Default 5000 ms.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary><c>name=</c>: set with <c>CLIENT SETNAME</c>, shown by <c>CLIENT LIST</c>. Default none.</summary>
    public string? ClientName { get; init; }

    /// <summary>
    /// <c>maxPendingCommands=</c>: most commands queued or awaiting a reply on one connection; beyond it a command fails
    /// at once with <see cref="RedisBackpressureException"/>. Default 10000.
    /// </summary>
    public int MaxPendingCommands { get; init; } = 10_000;

    /// <summary>
    /// <c>maxOutgoingBytes=</c>: most bytes of commands accepted but not yet written to the socket, per connection;
    /// beyond it a command fails at once with <see cref="RedisBackpressureException"/>. Default 8 MiB.
    /// </summary>
    public long MaxOutgoingBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>
    /// <c>maxReplyBytes=</c>: the largest reply accepted (Redis allows bulk strings of 512 MB); a larger one is a
    /// protocol error that closes the connection, so a bad reply cannot exhaust memory. Default 64 MiB.
    /// </summary>
    public long MaxReplyBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>
    /// <c>keepAlive=</c> (seconds): how often an idle connection is pinged; a connection that has owed a reply for
    /// twice this long is considered dead and replaced. 0 turns both off. Default 15 s.
    /// </summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary><c>reconnectDelay=</c> (milliseconds): the first backoff step after a failed connect; it doubles per attempt. Default 100 ms.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary><c>reconnectMaxDelay=</c> (milliseconds): the cap of the backoff between connect attempts. Default 5000 ms.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Parses a connection string; throws <see cref="FormatException"/> naming the bad part.</summary>
    public static RedisConnectionOptions Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var endPoints = new List<RedisEndPoint>();
        var options = new RedisConnectionOptions();
        foreach (var rawPart in connectionString.Split(','))
        {
            var part = rawPart.Trim();
            if (part.Length == 0)
            {
                continue;
            }
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                endPoints.Add(ParseEndPoint(part));
                continue;
            }
            var key = part[..equals].Trim();
            // Only the first '=' separates: a password may contain more.
            var value = part[(equals + 1)..].Trim();
            options = Apply(options, key, value);
        }
        if (endPoints.Count == 0)
        {
            throw new FormatException("The Redis connection string names no endpoint (expected host[:port], e.g. 127.0.0.1:6379).");
        }
        if (options.ReconnectMaxDelay < options.ReconnectDelay)
        {
            throw new FormatException("The Redis connection string's reconnectMaxDelay must not be less than reconnectDelay.");
        }
        return options with { EndPoints = endPoints };
    }

    private static RedisConnectionOptions Apply(RedisConnectionOptions options, string key, string value) =>
        key.ToLowerInvariant() switch
        {
            "password" => options with { Password = value.Length == 0 ? null : value },
            "user" => options with { User = NonEmpty(key, value) },
            "ssl" => options with { Ssl = ParseBool(key, value) },
            "sslhost" => options with { SslHost = NonEmpty(key, value) },
            "defaultdatabase" => options with { DefaultDatabase = ParseInt(key, value, 0, int.MaxValue) },
            "connecttimeout" => options with { ConnectTimeout = TimeSpan.FromMilliseconds(ParseInt(key, value, 1, int.MaxValue)) },
            // Accepted so StackExchange.Redis strings work unchanged, but without meaning here: commands have no
            // synchronous form, and start-up never aborts on a failed connect (the client keeps retrying).
            "synctimeout" => Ignore(options, ParseInt(key, value, 0, int.MaxValue)),
            "abortconnect" => Ignore(options, ParseBool(key, value)),
            "name" => options with { ClientName = ValidClientName(key, value) },
            "maxpendingcommands" => options with { MaxPendingCommands = ParseInt(key, value, 1, int.MaxValue) },
            "maxoutgoingbytes" => options with { MaxOutgoingBytes = ParseLong(key, value, 1, long.MaxValue) },
            "maxreplybytes" => options with { MaxReplyBytes = ParseLong(key, value, 1024, 512L * 1024 * 1024) },
            "keepalive" => options with { KeepAlive = TimeSpan.FromSeconds(ParseInt(key, value, 0, 24 * 3600)) },
            "reconnectdelay" => options with { ReconnectDelay = TimeSpan.FromMilliseconds(ParseInt(key, value, 1, int.MaxValue)) },
            "reconnectmaxdelay" => options with { ReconnectMaxDelay = TimeSpan.FromMilliseconds(ParseInt(key, value, 1, int.MaxValue)) },
            _ => throw new FormatException($"The Redis connection string has an unknown key '{key}'."),
        };

    private static RedisConnectionOptions Ignore<T>(RedisConnectionOptions options, T _) => options;

    private static RedisEndPoint ParseEndPoint(string text)
    {
        string host;
        var port = DefaultPort;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw new FormatException($"The Redis endpoint '{text}' has '[' without ']'.");
            }
            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                port = rest[0] == ':' ? ParsePort(text, rest[1..]) : throw new FormatException($"The Redis endpoint '{text}' has text after ']' that is not ':port'.");
            }
            if (!IPAddress.TryParse(host, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                throw new FormatException($"The Redis endpoint '{text}' has brackets around something that is not an IPv6 address.");
            }
        }
        else if (text.Count(c => c == ':') > 1)
        {
            // A bare IPv6 address; with a port it must be bracketed, or the last group would be ambiguous.
            host = IPAddress.TryParse(text, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? text : throw new FormatException($"The Redis endpoint '{text}' is not valid; write IPv6 addresses as [::1]:6379.");
        }
        else
        {
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            host = colon < 0 ? text : text[..colon];
            if (colon >= 0)
            {
                port = ParsePort(text, text[(colon + 1)..]);
            }
        }
        if (host.Length == 0 || host.Any(char.IsWhiteSpace))
        {
            throw new FormatException($"The Redis endpoint '{text}' has no valid host.");
        }
        return new RedisEndPoint(host, port);
    }

    private static int ParsePort(string endPoint, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? port
            : throw new FormatException($"The Redis endpoint '{endPoint}' has an invalid port '{text}' (expected 1-65535).");

    private static bool ParseBool(string key, string value) =>
        bool.TryParse(value, out var result) ? result : throw new FormatException($"The Redis connection string's '{key}' must be true or false, not '{value}'.");

    private static int ParseInt(string key, string value, int min, int max) =>
        (int)ParseLong(key, value, min, max);

    private static long ParseLong(string key, string value, long min, long max) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var result) && result >= min && result <= max
            ? result
            : throw new FormatException($"The Redis connection string's '{key}' must be a whole number from {min} to {max}, not '{value}'.");

    private static string NonEmpty(string key, string value) =>
        value.Length > 0 ? value : throw new FormatException($"The Redis connection string's '{key}' is empty.");

    // Redis refuses names with spaces or newlines (CLIENT SETNAME); better to say so at parse time.
    private static string ValidClientName(string key, string value) =>
        NonEmpty(key, value).All(c => c > ' ' && c < 127)
            ? value
            : throw new FormatException($"The Redis connection string's '{key}' may not contain spaces or special characters.");

    /// <summary>The connection string again, with the password masked: safe to log. Keys at their default are left out.</summary>
    public override string ToString()
    {
        var defaults = new RedisConnectionOptions();
        var text = new StringBuilder(string.Join(',', EndPoints));
        void Add(string key, object value) => text.Append(',').Append(key).Append('=').Append(value);
        if (User is not null)
        {
            Add("user", User);
        }
        if (Password is not null)
        {
            Add("password", "*****");
        }
        if (Ssl)
        {
            Add("ssl", "true");
        }
        if (SslHost is not null)
        {
            Add("sslHost", SslHost);
        }
        if (DefaultDatabase is { } database)
        {
            Add("defaultDatabase", database);
        }
        if (ClientName is not null)
        {
            Add("name", ClientName);
        }
        if (ConnectTimeout != defaults.ConnectTimeout)
        {
            Add("connectTimeout", (long)ConnectTimeout.TotalMilliseconds);
        }
        if (MaxPendingCommands != defaults.MaxPendingCommands)
        {
            Add("maxPendingCommands", MaxPendingCommands);
        }
        if (MaxOutgoingBytes != defaults.MaxOutgoingBytes)
        {
            Add("maxOutgoingBytes", MaxOutgoingBytes);
        }
        if (MaxReplyBytes != defaults.MaxReplyBytes)
        {
            Add("maxReplyBytes", MaxReplyBytes);
        }
        if (KeepAlive != defaults.KeepAlive)
        {
            Add("keepAlive", (long)KeepAlive.TotalSeconds);
        }
        if (ReconnectDelay != defaults.ReconnectDelay)
        {
            Add("reconnectDelay", (long)ReconnectDelay.TotalMilliseconds);
        }
        if (ReconnectMaxDelay != defaults.ReconnectMaxDelay)
        {
            Add("reconnectMaxDelay", (long)ReconnectMaxDelay.TotalMilliseconds);
        }
        return text.ToString();
    }
}
