using System.Security.Claims;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Security;

/// <summary>Who a connection belongs to: the user id (<c>sub</c>) and display name (<c>name</c>) of its authenticated user.</summary>
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
        if (string.IsNullOrEmpty(userId))
        {
            return null;
        }
        var name = user.FindFirst(NameClaim)?.Value ?? user.FindFirst(ClaimTypes.Name)?.Value;
        return new UserIdentity(userId, string.IsNullOrEmpty(name) ? userId : name);
    }
}

/// <summary>Makes <c>Clients.User(id)</c> address the same user id the hub records as <c>by</c>.</summary>
internal sealed class SubjectUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection) => UserIdentity.From(connection.User)?.UserId;
}
