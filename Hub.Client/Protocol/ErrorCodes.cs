namespace CollabHub.Protocol;

/// <summary>
/// The stable codes at the start of every error message the hub sends (<c>"code: detail"</c>).
/// Clients switch on the code; the detail is for people.
/// </summary>
public static class ErrorCodes
{
    /// <summary>A request object or one of its fields is missing or malformed.</summary>
    public const string InvalidArgument = "invalid_argument";
    /// <summary>The room id is empty, too long or has characters outside the allowed set.</summary>
    public const string InvalidRoom = "invalid_room";
    /// <summary>The key is empty, too long or has control characters.</summary>
    public const string InvalidKey = "invalid_key";
    /// <summary>A value, body or payload is larger than the configured limit.</summary>
    public const string TooLarge = "too_large";
    /// <summary>The connection has not joined the room it addresses.</summary>
    public const string NotJoined = "not_joined";
    /// <summary>The connection has joined as many rooms as the limit allows.</summary>
    public const string TooManyRooms = "too_many_rooms";
    /// <summary>The mutation id was used before for a different room or operation.</summary>
    public const string MutationReused = "mutation_reused";
    /// <summary>The server's write queue is full; retry after a short wait.</summary>
    public const string Overloaded = "overloaded";
    /// <summary>The store could not take the write now (shutting down, database unreachable); nothing was applied. Retry.</summary>
    public const string Unavailable = "unavailable";
    /// <summary>The caller is not allowed to do this.</summary>
    public const string Forbidden = "forbidden";
    /// <summary>The caller sent too much too fast.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>Reads the code from an error message of the form <c>"code: detail"</c>; null when it has none.</summary>
    /// <param name="message">The error message as received, possibly with a prefix added by the SignalR client.</param>
    public static string? Parse(string? message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return null;
        }
        // The .NET SignalR client prefixes server errors with "An unexpected error occurred invoking 'X' on the server. HubException: ".
        var marker = message.LastIndexOf("HubException: ", StringComparison.Ordinal);
        var text = marker >= 0 ? message.AsSpan(marker + "HubException: ".Length) : message.AsSpan();
        var colon = text.IndexOf(':');
        if (colon <= 0)
        {
            return null;
        }
        var code = text[..colon];
        foreach (var c in code)
        {
            if (c is not (>= 'a' and <= 'z') and not '_')
            {
                return null;
            }
        }
        return code.ToString();
    }
}
