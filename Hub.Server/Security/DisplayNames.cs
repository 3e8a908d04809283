using System.Text;

namespace CollabHub.Server.Security;

/// <summary>
/// The rules for who a user is shown as. A name goes out to every member of a room (presence, signals), so it may
/// hold no control characters (NUL, ESC, CR, LF ...) and no bidirectional formatting characters (which can make a
/// name display as something else, e.g. U+202E), and is at most <see cref="MaxLength"/> characters long. Names users
/// pick themselves in Development are refused when they break the rule; names from tokens are cleaned, because the
/// identity provider, not the user, chose them.
/// </summary>
internal static class DisplayNames
{
    public const int MaxLength = 64;

    /// <summary>Longest user id (a token's <c>sub</c>): it is stored with every write and sent in presence.</summary>
    public const int MaxUserIdLength = 256;

    public static string Rule => $"name must be 1 to {MaxLength} printable characters (no control or bidirectional formatting characters)";

    /// <summary>The name without surrounding white space, if it is 1–64 characters that all may be shown.</summary>
    public static bool TryNormalize(string? raw, out string name)
    {
        name = raw?.Trim() ?? "";
        return name.Length is > 0 and <= MaxLength && IsShowable(name);
    }

    /// <summary>
    /// A token's name as it may be shown: control and bidirectional formatting characters and unpaired surrogates
    /// removed, runs of white space made one space, cut to <see cref="MaxLength"/> characters (never inside a
    /// surrogate pair); <paramref name="fallback"/> (the user id) when nothing is left.
    /// </summary>
    public static string Clean(string? raw, string fallback)
    {
        if (raw is null)
        {
            return fallback;
        }
        if (raw.Length <= MaxLength && IsShowable(raw) && !HasSpaceToFold(raw))
        {
            return raw.Trim() is { Length: > 0 } trimmed ? trimmed : fallback;
        }
        var name = new StringBuilder(MaxLength);
        var pendingSpace = false;
        for (var i = 0; i < raw.Length && name.Length < MaxLength; i++)
        {
            var c = raw[i];
            if (char.IsWhiteSpace(c))
            {
                pendingSpace = name.Length > 0;
                continue;
            }
            var pair = char.IsHighSurrogate(c) && i + 1 < raw.Length && char.IsLowSurrogate(raw[i + 1]);
            if (!pair && (char.IsControl(c) || char.IsSurrogate(c) || IsBidiFormatting(c)))
            {
                continue;
            }
            var width = (pendingSpace ? 1 : 0) + (pair ? 2 : 1);
            if (name.Length + width > MaxLength)
            {
                break;
            }
            if (pendingSpace)
            {
                name.Append(' ');
                pendingSpace = false;
            }
            name.Append(c);
            if (pair)
            {
                name.Append(raw[++i]);
            }
        }
        return name.Length > 0 ? name.ToString() : fallback;
    }

    /// <summary>Whether a user id may be used: 1–256 characters, none of them control characters or unpaired surrogates.</summary>
    public static bool IsValidUserId(string? userId) =>
        userId is { Length: > 0 and <= MaxUserIdLength } && IsShowable(userId);

    private static bool IsShowable(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsControl(c) || char.IsSurrogate(c) || IsBidiFormatting(c))
            {
                return false;
            }
        }
        return true;
    }

    private static bool HasSpaceToFold(string text)
    {
        for (var i = 1; i < text.Length; i++)
        {
            if (char.IsWhiteSpace(text[i]) && (char.IsWhiteSpace(text[i - 1]) || text[i] != ' '))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>LRM, RLM, ALM, and the embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).</summary>
    private static bool IsBidiFormatting(char c) =>
        c is '\u200E' or '\u200F' or '\u061C' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');
}
