using System.Security.Claims;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Security;

/// <summary>
/// Who a connection belongs to: the user id (<c>sub</c>) and display name (<c>name</c>) of its authenticated user.
/// The name is cleaned by <see cref="DisplayNames.Clean"/>; a user id that breaks <see cref="DisplayNames.IsValidUserId"/>
/// never gets this far (its token is refused).
/// </summary>
internal sealed record UserIdentity(string UserId, string Name)
{
    public const string SubjectClaim = "sub";
    public const string NameClaim = "name";

    public static UserIdentity? From(ClaimsPrincipal? user)
    {
        if (user?.Identity is not { IsAuthenticated: true })
        {
            return null;
        }
        var userId = user.FindFirst(SubjectClaim)?.Value ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value;
        if (!DisplayNames.IsValidUserId(userId))
        {
            return null;
        }
        var name = user.FindFirst(NameClaim)?.Value ?? user.FindFirst(ClaimTypes.Name)?.Value;
        return new UserIdentity(userId!, DisplayNames.Clean(name, userId!));
    }
}

/// <summary>Makes <c>Clients.User(id)</c> address the same user id the hub records as <c>by</c>.</summary>
internal sealed class SubjectUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection) => UserIdentity.From(connection.User)?.UserId;
}
