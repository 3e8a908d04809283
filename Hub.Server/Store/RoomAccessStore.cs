using CollabHub.Protocol;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace CollabHub.Server.Store;

/// <summary>
/// Who may do what in private rooms. Every change runs under the room's lock (the same one writes take), and
/// re-reads what it depends on inside it, so concurrent changes apply one after the other:
/// <list type="bullet">
/// <item>The first user to join a room that was never claimed becomes its owner, and the claim is kept for good:
/// two first joiners cannot both own it, and a room that had an owner is never claimable again.</item>
/// <item>A grant applies only if the granter is an owner when it is applied (not when it was asked), and nobody
/// changes their own role; so the last owner cannot be removed or demoted, even by two owners revoking each other
/// at once: the second grant finds its granter no longer an owner.</item>
/// </list>
/// </summary>
internal sealed class RoomAccessStore(IDbContextFactory<StoreDbContext> contexts, TimeProvider clock)
{
    /// <summary>
    /// The user's role in the room. A room never claimed is claimed for the user if <paramref name="mayClaim"/>
    /// (asked under the lock, only then) allows it; if not, null and nothing is stored.
    /// </summary>
    public async Task<RoomRole?> JoinAsync(string roomId, string userId, Func<bool> mayClaim, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await LockRoomAsync(db, roomId, cancellationToken);
        if (await RoleAsync(db, roomId, userId, cancellationToken) is { } role)
        {
            return role;
        }
        if (await db.RoomClaims.AnyAsync(c => c.RoomId == roomId, cancellationToken))
        {
            return RoomRole.None;
        }
        if (!mayClaim())
        {
            return null;
        }
        db.RoomClaims.Add(new RoomClaimRow { RoomId = roomId, UserId = userId, At = clock.GetUtcNow().ToUnixTimeMilliseconds() });
        db.RoomAccess.Add(new RoomAccessRow { RoomId = roomId, UserId = userId, Role = RoomRole.Owner });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return RoomRole.Owner;
    }

    public async Task<IReadOnlyList<(string UserId, RoomRole Role)>> ListAsync(string roomId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.RoomAccess.Where(a => a.RoomId == roomId).OrderBy(a => a.UserId).ToListAsync(cancellationToken);
        return rows.ConvertAll(r => (r.UserId, r.Role));
    }

    /// <summary>
    /// Sets <paramref name="userId"/>'s role (<see cref="RoomRole.None"/> removes it) if <paramref name="granter"/>, a
    /// different user, owns the room at this moment; returns whether it did. The caller refuses self-grants first.
    /// </summary>
    public async Task<bool> GrantAsync(string roomId, string granter, string userId, RoomRole role, CancellationToken cancellationToken)
    {
        if (granter == userId)
        {
            throw new ArgumentException("a user cannot change their own role", nameof(userId));
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await LockRoomAsync(db, roomId, cancellationToken);
        if (await RoleAsync(db, roomId, granter, cancellationToken) != RoomRole.Owner)
        {
            return false;
        }
        var target = db.RoomAccess.Where(a => a.RoomId == roomId && a.UserId == userId);
        if (role == RoomRole.None)
        {
            await target.ExecuteDeleteAsync(cancellationToken);
        }
        else if (await target.ExecuteUpdateAsync(s => s.SetProperty(a => a.Role, role), cancellationToken) == 0)
        {
            db.RoomAccess.Add(new RoomAccessRow { RoomId = roomId, UserId = userId, Role = role });
            await db.SaveChangesAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Starts a transaction holding the room's lock until it ends (PostgreSQL: the room row; SQLite: the write lock).</summary>
    private static async Task<IDbContextTransaction> LockRoomAsync(StoreDbContext db, string roomId, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken);
        try
        {
            await using var sql = new WriteTransaction(db.Database.GetDbConnection(), transaction.GetDbTransaction());
            await sql.LockRoomAsync(roomId, cancellationToken);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    private static Task<RoomRole?> RoleAsync(StoreDbContext db, string roomId, string userId, CancellationToken cancellationToken) =>
        db.RoomAccess.Where(a => a.RoomId == roomId && a.UserId == userId).Select(a => (RoomRole?)a.Role).FirstOrDefaultAsync(cancellationToken);
}
