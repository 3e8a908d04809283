namespace CollabHub.Protocol;

/// <summary>What a user may do in a room. Each role includes what the ones below it may do, so roles compare by order.</summary>
/// <remarks>The numbers are stored by the server (room access rows): never renumber.</remarks>
public enum RoomRole
{
    /// <summary>No access; in a Grant, revokes it.</summary>
    None = 0,
    /// <summary>May Join and Sync only.</summary>
    Viewer = 1,
    /// <summary>May Join, Sync, Set, Delete, Batch, Post and Signal.</summary>
    Editor = 2,
    /// <summary>May do everything, and manage access with Grant and GetAccess.</summary>
    Owner = 3,
}

/// <summary>The wire names of <see cref="RoomRole"/>, as the <c>role</c> fields carry them.</summary>
public static class RoomRoles
{
    /// <summary>The wire name of <see cref="RoomRole.Owner"/>.</summary>
    public const string Owner = "owner";
    /// <summary>The wire name of <see cref="RoomRole.Editor"/>.</summary>
    public const string Editor = "editor";
    /// <summary>The wire name of <see cref="RoomRole.Viewer"/>.</summary>
    public const string Viewer = "viewer";
    /// <summary>The wire name of <see cref="RoomRole.None"/>.</summary>
    public const string None = "none";

    /// <summary>The wire name of <paramref name="role"/>; anything outside the enum is <see cref="None"/>.</summary>
    public static string ToWire(RoomRole role) => role switch
    {
        RoomRole.Owner => Owner,
        RoomRole.Editor => Editor,
        RoomRole.Viewer => Viewer,
        _ => None,
    };

    /// <summary>The role a wire name stands for; null when <paramref name="role"/> is not one of the four names.</summary>
    public static RoomRole? FromWire(string? role) => role switch
    {
        Owner => RoomRole.Owner,
        Editor => RoomRole.Editor,
        Viewer => RoomRole.Viewer,
        None => RoomRole.None,
        _ => null,
    };
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
