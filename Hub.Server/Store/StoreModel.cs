using CollabHub.Protocol;
using Microsoft.EntityFrameworkCore;

namespace CollabHub.Server.Store;

/// <summary>A room: its sequence counter and the horizon below which deltas are no longer complete.</summary>
internal sealed class RoomRow
{
    public required string Id { get; set; }

    /// <summary>The last seq taken. Every persisted change takes the next one inside its own transaction.</summary>
    public long Seq { get; set; }

    /// <summary>The highest version of a purged tombstone: a delta from below it would miss deletes.</summary>
    public long PurgedSeq { get; set; }
}

/// <summary>
/// How many live (not deleted) keys a room has (schema version 4), kept by every write in the write's transaction, so
/// that the key limit costs one row read rather than a count over the room's entries.
/// </summary>
internal sealed class RoomKeysRow
{
    public required string RoomId { get; set; }
    public long Live { get; set; }
}

internal sealed class EntryRow
{
    public required string RoomId { get; set; }
    public required string Key { get; set; }

    /// <summary>The value as JSON text; null for a tombstone.</summary>
    public string? ValueJson { get; set; }
    public long Version { get; set; }
    public bool Deleted { get; set; }
    public required string By { get; set; }

    /// <summary>Commit time in Unix milliseconds (portable across providers, and indexable).</summary>
    public long At { get; set; }
}

internal sealed class MessageRow
{
    public required string RoomId { get; set; }
    public long Seq { get; set; }
    public required string Id { get; set; }
    public required string BodyJson { get; set; }
    public required string By { get; set; }
    public long At { get; set; }
}

/// <summary>An applied mutation id and the result its first call got, replayed to retries.</summary>
internal sealed class MutationRow
{
    public required string UserId { get; set; }
    public required string MutationId { get; set; }
    public required string RoomId { get; set; }
    public WriteKind Kind { get; set; }
    public required string ResultJson { get; set; }
    public long At { get; set; }
}

/// <summary>A user's role in a private room (schema version 2).</summary>
internal sealed class RoomAccessRow
{
    public required string RoomId { get; set; }
    public required string UserId { get; set; }
    public RoomRole Role { get; set; }
}

/// <summary>
/// That a private room has been claimed, and by whom (schema version 3). Kept for good: a room that once had an owner
/// is never claimable again, even if its access rows were lost.
/// </summary>
internal sealed class RoomClaimRow
{
    public required string RoomId { get; set; }
    public required string UserId { get; set; }
    public long At { get; set; }
}

internal sealed class SchemaInfoRow
{
    public int Id { get; set; }
    public int Version { get; set; }
}

internal sealed class StoreDbContext(DbContextOptions<StoreDbContext> options) : DbContext(options)
{
    public DbSet<RoomRow> Rooms => Set<RoomRow>();
    public DbSet<EntryRow> Entries => Set<EntryRow>();
    public DbSet<MessageRow> Messages => Set<MessageRow>();
    public DbSet<MutationRow> Mutations => Set<MutationRow>();
    public DbSet<SchemaInfoRow> SchemaInfo => Set<SchemaInfoRow>();
    public DbSet<RoomAccessRow> RoomAccess => Set<RoomAccessRow>();
    public DbSet<RoomClaimRow> RoomClaims => Set<RoomClaimRow>();
    public DbSet<RoomKeysRow> RoomKeys => Set<RoomKeysRow>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<RoomRow>(e =>
        {
            e.ToTable("rooms");
            e.HasKey(r => r.Id);
            e.Property(r => r.Id).HasColumnName("id");
            e.Property(r => r.Seq).HasColumnName("seq");
            e.Property(r => r.PurgedSeq).HasColumnName("purged_seq");
        });
        model.Entity<RoomKeysRow>(e =>
        {
            e.ToTable("room_keys");
            e.HasKey(r => r.RoomId);
            e.Property(r => r.RoomId).HasColumnName("room_id");
            e.Property(r => r.Live).HasColumnName("live");
        });
        model.Entity<EntryRow>(e =>
        {
            e.ToTable("entries");
            e.HasKey(r => new { r.RoomId, r.Key });
            e.Property(r => r.RoomId).HasColumnName("room_id");
            e.Property(r => r.Key).HasColumnName("key");
            e.Property(r => r.ValueJson).HasColumnName("value_json");
            e.Property(r => r.Version).HasColumnName("version");
            e.Property(r => r.Deleted).HasColumnName("deleted");
            e.Property(r => r.By).HasColumnName("by");
            e.Property(r => r.At).HasColumnName("at");
            // Deltas read "entries of a room above a version, in version order".
            e.HasIndex(r => new { r.RoomId, r.Version }).HasDatabaseName("ix_entries_room_version");
            // The purge looks for old tombstones.
            e.HasIndex(r => new { r.Deleted, r.At }).HasDatabaseName("ix_entries_deleted_at");
        });
        model.Entity<MessageRow>(e =>
        {
            e.ToTable("messages");
            e.HasKey(r => new { r.RoomId, r.Seq });
            e.Property(r => r.RoomId).HasColumnName("room_id");
            e.Property(r => r.Seq).HasColumnName("seq");
            e.Property(r => r.Id).HasColumnName("id");
            e.Property(r => r.BodyJson).HasColumnName("body_json");
            e.Property(r => r.By).HasColumnName("by");
            e.Property(r => r.At).HasColumnName("at");
        });
        model.Entity<MutationRow>(e =>
        {
            e.ToTable("mutations");
            e.HasKey(r => new { r.UserId, r.MutationId });
            e.Property(r => r.UserId).HasColumnName("user_id");
            e.Property(r => r.MutationId).HasColumnName("mutation_id");
            e.Property(r => r.RoomId).HasColumnName("room_id");
            e.Property(r => r.Kind).HasColumnName("kind");
            e.Property(r => r.ResultJson).HasColumnName("result_json");
            e.Property(r => r.At).HasColumnName("at");
            e.HasIndex(r => r.At).HasDatabaseName("ix_mutations_at");
        });
        model.Entity<RoomAccessRow>(e =>
        {
            e.ToTable("room_access");
            e.HasKey(r => new { r.RoomId, r.UserId });
            e.Property(r => r.RoomId).HasColumnName("room_id");
            e.Property(r => r.UserId).HasColumnName("user_id");
            e.Property(r => r.Role).HasColumnName("role");
        });
        model.Entity<RoomClaimRow>(e =>
        {
            e.ToTable("room_claims");
            e.HasKey(r => r.RoomId);
            e.Property(r => r.RoomId).HasColumnName("room_id");
            e.Property(r => r.UserId).HasColumnName("user_id");
            e.Property(r => r.At).HasColumnName("at");
        });
        model.Entity<SchemaInfoRow>(e =>
        {
            e.ToTable("schema_info");
            e.HasKey(r => r.Id);
            e.Property(r => r.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(r => r.Version).HasColumnName("version");
        });
    }
}
