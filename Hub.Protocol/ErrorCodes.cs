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
    /// <summary>The room already holds as many keys as the limit allows.</summary>
    public const string TooManyKeys = "too_many_keys";
    /// <summary>The user already has as many connections as the limit allows.</summary>
    public const string TooManyConnections = "too_many_connections";
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
    /// <summary>
    /// Client-side, never sent by the hub: <c>CollabClient</c>'s write queue already holds as many writes as it may
    /// (<c>CollabClientOptions.MaxQueuedWrites</c>); nothing was queued.
    /// </summary>
    public const string QueueFull = "queue_full";

    /// <summary>
    /// Client-side, never sent by the hub: the app discarded the write (<c>DiscardPending</c> in either SDK) before it
    /// was answered; one already sent may still have been applied.
    /// </summary>
    public const string Cancelled = "cancelled";

    /// <summary>
    /// Whether a call refused with <paramref name="code"/> may succeed if it is sent again unchanged (with the same
    /// mutation id): <see cref="Overloaded"/>, <see cref="Unavailable"/> and <see cref="RateLimited"/>.
    /// </summary>
    /// <param name="code">An error code, or null.</param>
    public static bool IsTemporary(string? code) => code is Overloaded or Unavailable or RateLimited;

    /// <summary>Reads the code from an error message of the form <c>"code: detail"</c>; null when it has none.</summary>
    /// <param name="message">The error message as received, possibly with the prefix SignalR adds.</param>
    public static string? Parse(string? message) => Split(message).Code;

    /// <summary>
    /// Splits an error message into its code and the hub's own text (<c>"code: detail"</c>), dropping the
    /// <c>"An unexpected error occurred invoking 'X' on the server. HubException: "</c> prefix SignalR adds.
    /// The code is null when the message carries none.
    /// </summary>
    /// <param name="message">The error message as received.</param>
    public static (string? Code, string Text) Split(string? message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return (null, "");
        }
        // The first marker: the hub's own text may quote client input that contains the marker again.
        const string marker = "HubException: ";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        var text = at >= 0 ? message[(at + marker.Length)..] : message;
        var colon = text.IndexOf(':');
        if (colon <= 0)
        {
            return (null, text);
        }
        for (var i = 0; i < colon; i++)
        {
            if (text[i] is not (>= 'a' and <= 'z') and not '_')
            {
                return (null, text);
            }
        }
        return (text[..colon], text);
    }
}
