using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace CollabHub.Server.Store;

/// <summary>
/// Who may do what in private rooms. A room with no rows has no owner yet: the first user to join claims it, under
/// the room's lock (the same one writes take), so two first joiners cannot both become owner.
/// </summary>
internal sealed class RoomAccessStore(IDbContextFactory<StoreDbContext> contexts)
{
    /// <summary>The user's role in the room, claiming ownership of a room that has none.</summary>
    public async Task<RoomRole> JoinAsync(string roomId, string userId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken);
        await using (var sql = new WriteTransaction(db.Database.GetDbConnection(), transaction.GetDbTransaction()))
        {
            await sql.LockRoomAsync(roomId, cancellationToken);
        }
        var roles = await db.RoomAccess.Where(a => a.RoomId == roomId).Select(a => new { a.UserId, a.Role }).ToListAsync(cancellationToken);
        RoomRole role;
        if (roles.Count == 0)
        {
            db.RoomAccess.Add(new RoomAccessRow { RoomId = roomId, UserId = userId, Role = RoomRole.Owner });
            await db.SaveChangesAsync(cancellationToken);
            role = RoomRole.Owner;
        }
        else
        {
            role = roles.FirstOrDefault(r => r.UserId == userId)?.Role ?? RoomRole.None;
        }
        await transaction.CommitAsync(cancellationToken);
        return role;
    }

    public async Task<RoomRole> GetAsync(string roomId, string userId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.RoomAccess.Where(a => a.RoomId == roomId && a.UserId == userId).Select(a => a.Role).FirstOrDefaultAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<(string UserId, RoomRole Role)>> ListAsync(string roomId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.RoomAccess.Where(a => a.RoomId == roomId).OrderBy(a => a.UserId).ToListAsync(cancellationToken);
        return rows.ConvertAll(r => (r.UserId, r.Role));
    }

    /// <summary>Sets a user's role; <see cref="RoomRole.None"/> removes it.</summary>
    public async Task SetAsync(string roomId, string userId, RoomRole role, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (role == RoomRole.None)
        {
            await db.RoomAccess.Where(a => a.RoomId == roomId && a.UserId == userId).ExecuteDeleteAsync(cancellationToken);
            return;
        }
        var updated = await db.RoomAccess.Where(a => a.RoomId == roomId && a.UserId == userId)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Role, role), cancellationToken);
        if (updated == 0)
        {
            db.RoomAccess.Add(new RoomAccessRow { RoomId = roomId, UserId = userId, Role = role });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                // Another grant inserted the row meanwhile: this one, the later, wins.
                await db.RoomAccess.Where(a => a.RoomId == roomId && a.UserId == userId)
                    .ExecuteUpdateAsync(s => s.SetProperty(a => a.Role, role), cancellationToken);
            }
        }
    }
}
