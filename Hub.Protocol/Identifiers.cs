using System.Text.RegularExpressions;

namespace CollabHub.Protocol;

/// <summary>The rules for the names the contract carries: room ids and keys, and how deep a JSON value may nest.</summary>
public static partial class Identifiers
{
    /// <summary>
    /// Room ids: letters, digits and <c>. _ ~ -</c>, starting with a letter or digit, so they fit in URLs. The whole
    /// string must match (<c>\z</c>: not even a trailing newline). Fixed, not configurable: clients rely on it.
    /// </summary>
    public const string RoomIdPattern = @"^[A-Za-z0-9][A-Za-z0-9._~-]*\z";

    /// <summary>The longest room id the server takes by default, in characters (<c>CollabHub:Limits:MaxRoomIdLength</c>).</summary>
    public const int DefaultMaxRoomIdLength = 128;

    /// <summary>
    /// The longest key the server takes by default, in characters (<c>CollabHub:Limits:MaxKeyLength</c>). A key is
    /// any non-empty text without control characters or unpaired surrogates.
    /// </summary>
    public const int DefaultMaxKeyLength = 256;

    /// <summary>
    /// Deepest nesting of a value, body or payload: 32. Fixed, because answers wrap values in a few more levels and
    /// System.Text.Json readers (the .NET SDK's among them) refuse JSON deeper than 64.
    /// </summary>
    public const int MaxJsonDepth = 32;

    /// <summary>Whether <paramref name="roomId"/> matches <see cref="RoomIdPattern"/> (its length is the server's to limit).</summary>
    public static bool IsRoomId(string? roomId) => roomId is not null && RoomIdRegex().IsMatch(roomId);

    [GeneratedRegex(RoomIdPattern, RegexOptions.CultureInvariant)]
    private static partial Regex RoomIdRegex();
}
