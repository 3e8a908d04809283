namespace CollabHub.Protocol;

/// <summary>The roles of a room, as they travel on the wire. Each includes what the ones below it may do.</summary>
public static class RoomRoles
{
    /// <summary>May do everything, and manage access with Grant and GetAccess.</summary>
    public const string Owner = "owner";
    /// <summary>May Join, Sync, Set, Delete, Post and Signal.</summary>
    public const string Editor = "editor";
    /// <summary>May Join and Sync only.</summary>
    public const string Viewer = "viewer";
    /// <summary>No access; in a Grant, revokes it.</summary>
    public const string None = "none";
}

/// <summary>Gives a user a role in a private room, or revokes it with <see cref="RoomRoles.None"/>. Owners only.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="UserId">The user whose role changes.</param>
/// <param name="Role">One of <see cref="RoomRoles"/>.</param>
public sealed record GrantRequest(string RoomId, string UserId, string Role);

/// <summary>Asks who has which role in a room. Owners only.</summary>
/// <param name="RoomId">The room.</param>
public sealed record GetAccessRequest(string RoomId);

/// <summary>One user's role in a room.</summary>
/// <param name="UserId">The user.</param>
/// <param name="Role">One of <see cref="RoomRoles"/>.</param>
public sealed record AccessMember(string UserId, string Role);

/// <summary>The answer to GetAccess.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="DefaultAccess"><c>open</c> (anyone signed in is an editor) or <c>private</c> (roles below).</param>
/// <param name="Members">The users with a role, ordered by user id.</param>
public sealed record RoomAccess(string RoomId, string DefaultAccess, IReadOnlyList<AccessMember> Members);

/// <summary>The argument of the AccessChanged event: this connection's new role in the room.</summary>
/// <param name="Role">One of <see cref="RoomRoles"/>; <see cref="RoomRoles.None"/> means the connection was removed from the room.</param>
public sealed record AccessChange(string Role);
