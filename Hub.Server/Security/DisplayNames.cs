namespace CollabHub.Server.Security;

/// <summary>The rule for names users pick themselves in Development (<c>?name=</c>, <c>POST /auth/dev-token</c>).</summary>
internal static class DisplayNames
{
    public const int MaxLength = 64;

    public static string Rule => $"name must be 1 to {MaxLength} printable characters";

    /// <summary>The name without surrounding white space, if it is 1–64 characters with no control characters or unpaired surrogates.</summary>
    public static bool TryNormalize(string? raw, out string name)
    {
        name = raw?.Trim() ?? "";
        if (name.Length is 0 or > MaxLength)
        {
            return false;
        }
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsControl(c))
            {
                return false;
            }
            if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return false;
            }
        }
        return true;
    }
}
