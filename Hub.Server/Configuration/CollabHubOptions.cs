using System.ComponentModel.DataAnnotations;
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

    /// <summary>Prefix of every Redis channel and key, so deployments can share one Redis. Default <c>collabhub</c>.</summary>
    [Required, RegularExpression("^[A-Za-z0-9._:-]{1,64}$")]
    public string RedisPrefix { get; set; } = "collabhub";

    [ValidateObjectMembers]
    public LimitsOptions Limits { get; set; } = new();

    [ValidateObjectMembers]
    public BackplaneOptions Backplane { get; set; } = new();

    [ValidateObjectMembers]
    public PresenceOptions Presence { get; set; } = new();
}

public sealed class BackplaneOptions
{
    /// <summary>How long adding or removing a connection of another instance to or from a group waits for its ack. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromSeconds(5);
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
}

public sealed class LimitsOptions
{
    /// <summary>Longest room id, in characters. Default 128.</summary>
    [Range(1, 1024)]
    public int MaxRoomIdLength { get; set; } = 128;

    /// <summary>Longest key, in characters. Default 256.</summary>
    [Range(1, 4096)]
    public int MaxKeyLength { get; set; } = 256;

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

    /// <summary>Most rooms one connection may be in at once. Default 100.</summary>
    [Range(1, 100_000)]
    public int MaxRoomsPerConnection { get; set; } = 100;

    /// <summary>
    /// Room ids: letters, digits and <c>. _ ~ -</c>, starting with a letter or digit, so they fit in URLs.
    /// Fixed, not configurable: clients rely on it.
    /// </summary>
    public const string RoomIdPattern = "^[A-Za-z0-9][A-Za-z0-9._~-]*$";

    /// <summary>SignalR's largest incoming message: the largest payload plus room for the envelope.</summary>
    public long MaxHubMessageBytes => Math.Max(Math.Max(MaxValueBytes, MaxBodyBytes), MaxSignalBytes) + 16 * 1024;
}
