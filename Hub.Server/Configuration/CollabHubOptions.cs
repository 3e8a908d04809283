using System.ComponentModel.DataAnnotations;
using CollabHub.Protocol;
using CollabHub.Server.Security;
using CollabHub.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Configuration;

/// <summary>
/// The server's settings, bound from the <c>CollabHub</c> section (appsettings.json, or env vars such as
/// <c>CollabHub__Store__Provider</c>). Every default is written here and in docs/operations.md.
/// </summary>
public sealed class CollabHubOptions
{
    public const string SectionName = "CollabHub";

    [ValidateObjectMembers]
    public StoreOptions Store { get; set; } = new();

    /// <summary>StackExchange-style Redis connection string; empty (the default) = in-process backplane.</summary>
    public string Redis { get; set; } = "";

    /// <summary>
    /// Whether <see cref="Redis"/> is set: the one test that picks Redis or in-process for the backplane, the cluster
    /// bus and presence.
    /// </summary>
    public bool UsesRedis => !string.IsNullOrWhiteSpace(Redis);

    /// <summary>Prefix of every Redis channel and key, so deployments can share one Redis. Default <c>collabhub</c>.</summary>
    [Required, RegularExpression(@"^[A-Za-z0-9._:-]{1,64}\z")]
    public string RedisPrefix { get; set; } = "collabhub";

    [ValidateObjectMembers]
    public HubCallOptions Hub { get; set; } = new();

    [ValidateObjectMembers]
    public LimitsOptions Limits { get; set; } = new();

    [ValidateObjectMembers]
    public BackplaneOptions Backplane { get; set; } = new();

    [ValidateObjectMembers]
    public RoomsOptions Rooms { get; set; } = new();

    [ValidateObjectMembers]
    public PresenceOptions Presence { get; set; } = new();

    [ValidateObjectMembers]
    public AuthOptions Auth { get; set; } = new();

    [ValidateObjectMembers]
    public CorsOptions Cors { get; set; } = new();

    [ValidateObjectMembers]
    public HeadersOptions Headers { get; set; } = new();

    [ValidateObjectMembers]
    public TelemetryOptions Telemetry { get; set; } = new();

    public LogFormatOptions Logging { get; set; } = new();

    [ValidateObjectMembers]
    public ShutdownOptions Shutdown { get; set; } = new();
}

/// <summary>
/// Token buckets (<c>CollabHub:Limits:Rates:*</c>): a bucket holds up to its burst and refills at its rate per second;
/// a call that finds it empty fails with <c>rate_limited</c>. Per-user buckets are shared by the user's connections
/// to one instance.
/// </summary>
public sealed class RateLimitOptions
{
    /// <summary>Writes (Set, Delete, Post) per second per connection. Default 50.</summary>
    [Range(1, 1_000_000)]
    public int WritesPerSecond { get; set; } = 50;

    /// <summary>Writes a connection may make at once before the rate applies. Default 100.</summary>
    [Range(1, 1_000_000)]
    public int WriteBurst { get; set; } = 100;

    /// <summary>Writes per second per user. Default 100.</summary>
    [Range(1, 1_000_000)]
    public int UserWritesPerSecond { get; set; } = 100;

    /// <summary>Writes a user may make at once. Default 200.</summary>
    [Range(1, 1_000_000)]
    public int UserWriteBurst { get; set; } = 200;

    /// <summary>Signals per second per connection (cursors move often). Default 60.</summary>
    [Range(1, 1_000_000)]
    public int SignalsPerSecond { get; set; } = 60;

    /// <summary>Signals a connection may send at once. Default 120.</summary>
    [Range(1, 1_000_000)]
    public int SignalBurst { get; set; } = 120;

    /// <summary>Signals per second per user. Default 120.</summary>
    [Range(1, 1_000_000)]
    public int UserSignalsPerSecond { get; set; } = 120;

    /// <summary>Signals a user may send at once. Default 240.</summary>
    [Range(1, 1_000_000)]
    public int UserSignalBurst { get; set; } = 240;

    /// <summary>Reads (Join, Sync, and each page of them) per second per connection. Default 50.</summary>
    [Range(1, 1_000_000)]
    public int ReadsPerSecond { get; set; } = 50;

    /// <summary>Reads a connection may make at once (a reconnect rejoins every room, and a large room takes several pages). Default 200.</summary>
    [Range(1, 1_000_000)]
    public int ReadBurst { get; set; } = 200;

    /// <summary>
    /// Bytes of values and bodies per second that Join and Sync answers may carry to one user (over the user's
    /// connections to this instance). A read is refused while the budget is spent; the read that spends it is served
    /// whole. Default 4194304 (4 MiB).
    /// </summary>
    [Range(1024, long.MaxValue)]
    public long UserReadBytesPerSecond { get; set; } = 4 * 1024 * 1024;

    /// <summary>Bytes a user may read at once before the rate applies. Default 16777216 (16 MiB).</summary>
    [Range(1024, long.MaxValue)]
    public long UserReadBytesBurst { get; set; } = 16 * 1024 * 1024;

    /// <summary>Private rooms one user may create (claim by joining first) per minute. Default 30.</summary>
    [Range(1, 1_000_000)]
    public int UserRoomsCreatedPerMinute { get; set; } = 30;

    /// <summary>Private rooms a user may create at once before the rate applies. Default 10.</summary>
    [Range(1, 1_000_000)]
    public int UserRoomsCreatedBurst { get; set; } = 10;
}

/// <summary>How the hub runs one connection: its calls and its buffers (<c>CollabHub:Hub:*</c>).</summary>
public sealed class HubCallOptions
{
    /// <summary>
    /// Bytes the server buffers from a client before it stops reading that client's socket. Default 65536 (64 KiB).
    /// </summary>
    [Range(1024, 64 * 1024 * 1024)]
    public long ApplicationMaxBufferSize { get; set; } = 64 * 1024;

    /// <summary>Bytes the server buffers for a client before its sends wait for the socket. Default 65536 (64 KiB).</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public long TransportMaxBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// SignalR's <c>MaximumParallelInvocationsPerClient</c>: how many calls of one connection may be in progress at
    /// once. Writes are handed to the group-commit writer in the order they arrive, so they still commit in send
    /// order; with more than 1, a connection's writes share commits instead of each waiting for the one before it.
    /// It also bounds the writes one connection has in flight: further calls wait unread. Default 128: above the
    /// SDKs' 100 writes in flight, so a draining queue is never held up here, and measured faster than 64 (bigger
    /// commits; docs/performance.md).
    /// </summary>
    [Range(1, 4096)]
    public int MaxParallelInvocationsPerClient { get; set; } = 128;

    /// <summary>
    /// SignalR's <c>HandshakeTimeout</c>: how long a new connection may take to send its handshake before it is
    /// closed. Default 15 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// SignalR's <c>KeepAliveInterval</c>: the server sends a ping when it has sent nothing else for this long, so idle
    /// connections carry traffic; keep it well under the load balancer's idle timeout. Clients' server timeout should be
    /// at least twice it. Default 15 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// SignalR's <c>ClientTimeoutInterval</c>: a connection the server heard nothing from (not even a ping) for this long
    /// is closed; at least twice the clients' keep-alive interval (15 s in both SDKs). Default 30 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:02", "00:30:00")]
    public TimeSpan ClientTimeoutInterval { get; set; } = TimeSpan.FromSeconds(30);
}

public enum RoomAccessMode
{
    /// <summary>Anyone authenticated may join and write any room.</summary>
    Open,

    /// <summary>The first user to join a room owns it; others need a grant (owner, editor, viewer).</summary>
    Private,
}

public sealed class RoomsOptions
{
    /// <summary>Who may join a room: <c>Open</c> (the default) or <c>Private</c>.</summary>
    public RoomAccessMode DefaultAccess { get; set; } = RoomAccessMode.Open;

    /// <summary>
    /// How long an instance trusts a cached role for new joins without hearing of a change (changes are pushed to
    /// every instance at once; this bounds staleness when such a notice was lost). Default 60 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan AccessCacheTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Most (room, user) roles an instance caches; beyond it the cache starts over. Default 100000.</summary>
    [Range(100, 10_000_000)]
    public int AccessCacheSize { get; set; } = 100_000;
}

public sealed class BackplaneOptions
{
    /// <summary>
    /// Which lifetime manager carries hub messages between instances when <c>CollabHub:Redis</c> is set. Default
    /// <c>CollabHub</c>: ours (local members first, keeps delivering locally while Redis is down); <c>SignalR</c>:
    /// the stock <c>AddStackExchangeRedis</c> one, on the same connection and channel prefix.
    /// </summary>
    public BackplaneProvider Provider { get; set; } = BackplaneProvider.CollabHub;

    /// <summary>How long adding or removing a connection of another instance to or from a group waits for its ack. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Most publishes (ours) sent to Redis and not yet answered. One beyond it is dropped at once and counted as
    /// an outage would be (local members have the message; the others repair the gap with Sync), so a slow Redis
    /// cannot make the instance queue without end. Default 10000.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxPendingPublishes { get; set; } = 10_000;
}

public enum BackplaneProvider
{
    /// <summary>Our <c>RedisHubLifetimeManager</c> (Backplane/).</summary>
    CollabHub,

    /// <summary>SignalR's own Redis backplane, <c>Microsoft.AspNetCore.SignalR.StackExchangeRedis</c>.</summary>
    SignalR,
}

/// <summary>
/// Presence across instances (with Redis): each instance renews a heartbeat; an instance whose heartbeat is older
/// than <see cref="InstanceExpiry"/> is taken as dead and its connections leave presence. A killed instance's users
/// are gone from presence within InstanceExpiry + HeartbeatInterval (25 s with the defaults).
/// </summary>
public sealed class PresenceOptions : IValidatableObject
{
    /// <summary>How often an instance renews its heartbeat and looks for dead instances. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How old a heartbeat may get before its instance counts as dead. Default 20 s; must exceed the interval.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:30:00")]
    public TimeSpan InstanceExpiry { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long an instance gathers a room's presence changes into one <c>PresenceDelta</c>: a burst of joins becomes
    /// a few events. Default 250 ms; 0 sends each change at once.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan BroadcastInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Most users a room's presence lists: above it, <c>JoinResult</c> carries the first this many (by user id) and the
    /// count, and deltas carry only the count until the room is back at or under it. Default 1000.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxListed { get; set; } = 1000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (InstanceExpiry <= HeartbeatInterval)
        {
            yield return new ValidationResult("InstanceExpiry must be longer than HeartbeatInterval.", [nameof(InstanceExpiry)]);
        }
    }
}

public enum StoreProvider
{
    Sqlite,
    Postgres,
}

/// <summary>
/// How SQLite makes a commit durable (its <c>synchronous</c> pragma, in WAL mode): what an acknowledged write survives.
/// </summary>
public enum SqliteDurability
{
    /// <summary>Each commit is flushed to disk (fsync) before it is acknowledged: it survives a crash of the process, the OS or the power.</summary>
    Full,

    /// <summary>
    /// Commits reach the OS at once and disk at each WAL checkpoint: an acknowledged write survives a crash of the
    /// process, but the last ones before a crash of the OS or a power loss may be lost (never half of one).
    /// </summary>
    Normal,
}

public sealed class StoreOptions
{
    /// <summary>Which database holds the store. Default <c>Sqlite</c>.</summary>
    public StoreProvider Provider { get; set; } = StoreProvider.Sqlite;

    /// <summary>ADO.NET connection string. Default <c>Data Source=collabhub.db</c> (relative to the working directory).</summary>
    [Required]
    public string ConnectionString { get; set; } = "Data Source=collabhub.db";

    /// <summary>How long a SQLite connection waits for another writer (another process) before failing. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// SQLite only: what an acknowledged write survives (<see cref="SqliteDurability"/>). Default <c>Full</c>, the
    /// promise of docs/protocol.md; <c>Normal</c> trades the last commits before an OS crash for fewer fsyncs.
    /// </summary>
    [EnumDataType(typeof(SqliteDurability))]
    public SqliteDurability SqliteDurability { get; set; } = SqliteDurability.Full;

    /// <summary>How long records of applied mutation ids are kept for exactly-once retries. Default 7 days.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan MutationRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long tombstones of deleted keys are kept; a Join from before the purge gets a full snapshot. Default 30 days.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan TombstoneRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often expired tombstones and mutation records are purged. Default 1 hour.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most writes committed in one transaction by the group-commit writer. Default 256.</summary>
    [Range(1, 10_000)]
    public int MaxBatchSize { get; set; } = 256;

    /// <summary>Most writes waiting for the writer; when full, writes fail at once with <c>overloaded</c>. Default 4096.</summary>
    [Range(1, 1_000_000)]
    public int WriteQueueCapacity { get; set; } = 4096;

    [ValidateObjectMembers]
    public RetentionOptions Retention { get; set; } = new();
}

/// <summary>
/// How long rooms keep their messages (<c>CollabHub:Store:Retention:*</c>), applied by the purge every
/// <see cref="StoreOptions.PurgeInterval"/>. A Join or Sync from below what was removed gets a full snapshot.
/// </summary>
public sealed class RetentionOptions
{
    /// <summary>How many of its newest messages each room keeps. Default 10000.</summary>
    [Range(1, 100_000_000)]
    public int Messages { get; set; } = 10_000;

    /// <summary>The age past which messages are removed, whatever their number. Default none (unset).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "36500.00:00:00")]
    public TimeSpan? MaxAge { get; set; }

    /// <summary>Most messages removed in one transaction, so that writes wait at most for one batch. Default 1000.</summary>
    [Range(1, 1_000_000)]
    public int BatchSize { get; set; } = 1000;
}

public sealed class LimitsOptions
{
    /// <summary>Longest room id, in characters. Default 128.</summary>
    [Range(1, 1024)]
    public int MaxRoomIdLength { get; set; } = Identifiers.DefaultMaxRoomIdLength;

    /// <summary>Longest key, in characters. Default 256.</summary>
    [Range(1, 4096)]
    public int MaxKeyLength { get; set; } = Identifiers.DefaultMaxKeyLength;

    /// <summary>Longest mutation id, in characters. Default 128.</summary>
    [Range(8, 1024)]
    public int MaxMutationIdLength { get; set; } = 128;

    /// <summary>Largest value of a Set, as UTF-8 JSON bytes. Default 65536 (64 KiB).</summary>
    [Range(16, 16 * 1024 * 1024)]
    public int MaxValueBytes { get; set; } = 64 * 1024;

    /// <summary>Largest message body of a Post, as UTF-8 JSON bytes. Default 65536 (64 KiB).</summary>
    [Range(16, 16 * 1024 * 1024)]
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Largest payload of a Signal, as UTF-8 JSON bytes. Default 8192 (8 KiB).</summary>
    [Range(16, 1024 * 1024)]
    public int MaxSignalBytes { get; set; } = 8 * 1024;

    /// <summary>Most items (entries plus messages) in one Join or Sync answer, and the largest Sync <c>limit</c>. Default 500.</summary>
    [Range(1, 100_000)]
    public int MaxPageItems { get; set; } = 500;

    /// <summary>
    /// Most JSON (values and bodies, counted in characters) in one Join or Sync answer; a longer page stops early
    /// with <c>hasMore</c>, but always carries at least one item. Default 1048576 (1 MiB).
    /// </summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxPageBytes { get; set; } = 1024 * 1024;

    /// <summary>How many of the most recent messages a full Join returns. Default 50.</summary>
    [Range(0, 100_000)]
    public int JoinMessages { get; set; } = 50;

    /// <summary>Most live keys (not counting tombstones) one room may hold; a Set of a new key beyond it fails with <c>too_many_keys</c>. Default 10000.</summary>
    [Range(1, 10_000_000)]
    public int MaxKeysPerRoom { get; set; } = 10_000;

    [ValidateObjectMembers]
    public RateLimitOptions Rates { get; set; } = new();

    /// <summary>Most connections one user may have to one instance; more are refused with <c>too_many_connections</c>. Default 20.</summary>
    [Range(1, 100_000)]
    public int MaxConnectionsPerUser { get; set; } = 20;

    /// <summary>
    /// Most events waiting to be written to one connection; a connection that falls further behind (it stopped
    /// reading, or reads slower than its rooms change) is closed, and its client reconnects and catches up. Default 8192.
    /// </summary>
    [Range(16, 10_000_000)]
    public int MaxPendingEventsPerConnection { get; set; } = 8192;

    /// <summary>Most operations in one Batch; more fail with <c>too_large</c>. Default 100.</summary>
    [Range(1, 200)]
    public int MaxBatchOps { get; set; } = 100;

    /// <summary>
    /// Most bytes in one Batch: its values as UTF-8 JSON (measured as sent) plus its keys as UTF-8; more fail with
    /// <c>too_large</c>. Each value is also held to <see cref="MaxValueBytes"/>. Default 65536 (64 KiB).
    /// </summary>
    [Range(16, 16 * 1024 * 1024)]
    public int MaxBatchBytes { get; set; } = 64 * 1024;

    /// <summary>Most rooms one connection may be in at once. Default 100.</summary>
    [Range(1, 100_000)]
    public int MaxRoomsPerConnection { get; set; } = 100;

    /// <summary>
    /// SignalR's largest incoming message: the largest payload (a batch's counts as one) plus room for the envelope,
    /// which holds a batch's operation fields too (under 64 bytes each, so <see cref="MaxBatchOps"/> stays at most 200).
    /// </summary>
    public long MaxHubMessageBytes => Math.Max(Math.Max(MaxValueBytes, MaxBodyBytes), Math.Max(MaxSignalBytes, MaxBatchBytes)) + 16 * 1024;
}

/// <summary>
/// Who may connect: bearer tokens (JWT) signed with <see cref="SigningKey"/> (HS256) or by the OpenID Connect provider
/// at <see cref="Authority"/>, or both. In Development, <c>?name=</c> identities and <c>POST /auth/dev-token</c> work
/// too. docs/security.md describes every setting.
/// </summary>
public sealed class AuthOptions : IValidatableObject
{
    /// <summary>Fewest bytes an HS256 signing key may have (the length of its hash).</summary>
    public const int MinSigningKeyBytes = 32;

    /// <summary>The prefix that marks <see cref="SigningKey"/> as base64 rather than text.</summary>
    public const string Base64Prefix = "base64:";

    /// <summary>The issuer used when <see cref="Issuer"/> is empty and tokens are signed with <see cref="SigningKey"/>.</summary>
    public const string DefaultIssuer = "collabhub";

    /// <summary>
    /// The <c>iss</c> a token must carry. Default empty: <c>collabhub</c> for tokens signed with the SigningKey
    /// (and the issuer of dev tokens); with an Authority, the issuer its discovery document names.
    /// </summary>
    public string Issuer { get; set; } = "";

    /// <summary>The <c>aud</c> a token must carry (dev tokens carry it too). Default <c>collabhub</c>.</summary>
    [Required]
    public string Audience { get; set; } = "collabhub";

    /// <summary>
    /// The HS256 key tokens are signed with: text (its UTF-8 bytes), or <c>base64:</c> and base64; at least 32 bytes.
    /// Default empty: none (then only an Authority's tokens are accepted; in Development, dev tokens use a random key).
    /// </summary>
    public string SigningKey { get; set; } = "";

    /// <summary>
    /// An OpenID Connect provider (e.g. <c>https://login.example.com/realms/collab</c>) whose discovery document
    /// (<c>/.well-known/openid-configuration</c>) gives the issuer and the signing keys. Default empty: none.
    /// </summary>
    public string Authority { get; set; } = "";

    /// <summary>
    /// Whether the Authority's metadata must come over https. Default (unset): true, unless the Authority is
    /// http://localhost, http://127.0.0.1 or http://[::1].
    /// </summary>
    public bool? RequireHttpsMetadata { get; set; }

    /// <summary>
    /// The token claim that holds the display name, e.g. <c>preferred_username</c>, or a namespaced claim such as
    /// <c>https://example.com/name</c>. Default <c>name</c>. A token without it falls back to <c>name</c>, then to <c>sub</c>.
    /// </summary>
    [Required, RegularExpression(@"^[^\s]{1,256}\z", ErrorMessage = "CollabHub:Auth:NameClaim must be a claim name without spaces.")]
    public string NameClaim { get; set; } = "name";

    /// <summary>How long a token from <c>POST /auth/dev-token</c> (Development only) is valid. Default 30 min.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan DevTokenLifetime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The longest a token may be valid: tokens whose <c>exp - iat</c> (without <c>iat</c>: <c>exp - now</c>) is longer
    /// are refused, so a leaked token is not useful for years. Default 24 h.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan MaxTokenLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How far a token's <c>exp</c> and <c>nbf</c> may be off the server's clock. Default 1 min.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Whether the server closes a hub connection when the token it connected with expires (clients then reconnect
    /// with a fresh token). Default true.
    /// </summary>
    public bool CloseOnTokenExpiry { get; set; } = true;

    /// <summary>
    /// The role, or claim type, that admits a user to operators' endpoints (<c>/status/data</c>, and <c>/metrics</c> with
    /// <c>CollabHub:Telemetry:MetricsRequireAdmin</c>): a token with that role (<c>role</c> claim) or with a claim of
    /// that type. Default empty: nobody, outside Development (where those endpoints are open).
    /// </summary>
    public string AdminRole { get; set; } = "";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!TokenKeys.TryDecode(SigningKey, out var key, out var error))
        {
            yield return new ValidationResult($"CollabHub:Auth:SigningKey {error}", [nameof(SigningKey)]);
        }
        else if (key.Length is > 0 and < MinSigningKeyBytes)
        {
            yield return new ValidationResult(
                $"CollabHub:Auth:SigningKey is {key.Length} bytes; an HS256 key needs at least {MinSigningKeyBytes} bytes (256 bits). " +
                $"Make one with `openssl rand -base64 48` and set it as {Base64Prefix}<that output>.",
                [nameof(SigningKey)]);
        }
        if (DevTokenLifetime > MaxTokenLifetime)
        {
            yield return new ValidationResult(
                $"CollabHub:Auth:DevTokenLifetime ({DevTokenLifetime}) is longer than CollabHub:Auth:MaxTokenLifetime ({MaxTokenLifetime}): dev tokens would be refused.",
                [nameof(DevTokenLifetime)]);
        }
        if (Authority.Length > 0)
        {
            if (!Uri.TryCreate(Authority, UriKind.Absolute, out var authority) || authority.Scheme is not ("https" or "http")
                || !string.IsNullOrEmpty(authority.Query) || !string.IsNullOrEmpty(authority.Fragment))
            {
                yield return new ValidationResult(
                    $"CollabHub:Auth:Authority '{Authority}' is not an http(s) URL such as https://login.example.com/realms/collab.", [nameof(Authority)]);
            }
            else if (authority.Scheme == "http" && CollabHubAuthentication.RequiresHttpsMetadata(this))
            {
                yield return new ValidationResult(
                    $"CollabHub:Auth:Authority '{Authority}' uses http, but its metadata must come over https. Use an https URL, " +
                    "or set CollabHub:Auth:RequireHttpsMetadata=false (never in production).", [nameof(Authority)]);
            }
        }
    }
}

/// <summary>
/// Which web origins may call the hub from a browser (CORS). Default: none outside Development (the web client served
/// by the hub itself is same-origin and needs none); in Development with an empty list, any origin.
/// </summary>
public sealed class CorsOptions : IValidatableObject
{
    /// <summary>Origins such as <c>https://app.example.com</c> allowed to call the hub, with credentials. Default empty.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var origin in AllowedOrigins)
        {
            if (!CorsSetup.TryNormalizeOrigin(origin, out _))
            {
                yield return new ValidationResult(
                    $"CollabHub:Cors:AllowedOrigins has '{origin}', which is not an origin: give scheme://host[:port] such as " +
                    "https://app.example.com (no path, no wildcard).", [nameof(AllowedOrigins)]);
            }
        }
    }
}

/// <summary>Security headers sent with every response.</summary>
public sealed class HeadersOptions
{
    /// <summary>The Content-Security-Policy the web client needs. Allows only the hub's own origin (and ws/wss for the hub).</summary>
    public const string DefaultContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
        "font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

    /// <summary>
    /// The Content-Security-Policy header of every response; empty sends none. Default <see cref="DefaultContentSecurityPolicy"/>.
    /// </summary>
    [RegularExpression(@"^[^\r\n]*\z", ErrorMessage = "CollabHub:Headers:ContentSecurityPolicy must be one line.")]
    public string ContentSecurityPolicy { get; set; } = DefaultContentSecurityPolicy;
}
