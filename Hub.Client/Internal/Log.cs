using Microsoft.Extensions.Logging;

namespace CollabHub.Client.Internal;

/// <summary>The client's log messages, with stable event ids.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Connected to {Url} ({Session}).")]
    public static partial void Connected(ILogger logger, Uri url, Session session);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Connection attempt {Attempt} to {Url} failed; retrying in {Delay}.")]
    public static partial void ConnectFailed(ILogger logger, int attempt, Uri url, TimeSpan delay, Exception error);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Giving up on {Url} after {Attempts} failed connection attempts.")]
    public static partial void GaveUp(ILogger logger, Uri url, int attempts, Exception error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "The connection ({Session}) was lost; reconnecting.")]
    public static partial void ConnectionLost(ILogger logger, Session session, Exception? error);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Joining or catching up on room {RoomId} failed on {Channel}; reconnecting.")]
    public static partial void RoomFaulted(ILogger logger, string roomId, object channel, Exception error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "The server refused room {RoomId}: {Code}. Its queued writes fail.")]
    public static partial void RoomRefused(ILogger logger, string roomId, string code, Exception error);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Write {MutationId} to room {RoomId} was refused for now ({Code}); retry {Attempt} in {Delay}.")]
    public static partial void WriteRetrying(ILogger logger, string mutationId, string roomId, string code, int attempt, TimeSpan delay);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "Write {MutationId} to room {RoomId}, queued by an earlier run, was refused: {Code}.")]
    public static partial void LoadedWriteFailed(ILogger logger, string mutationId, string roomId, string code, Exception error);

    [LoggerMessage(EventId = 9, Level = LogLevel.Error, Message = "Could not save the offline queue to {Path}.")]
    public static partial void QueueSaveFailed(ILogger logger, string path, Exception error);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Loaded {Count} unanswered writes from {Path}.")]
    public static partial void QueueLoaded(ILogger logger, int count, string path);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "An event handler of the app threw.")]
    public static partial void EventHandlerFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 12, Level = LogLevel.Debug, Message = "Room {RoomId}: {Method} from seq {Since} answered on {Channel}: full {Full}, seq {Seq}, {Entries} entries, {Messages} messages, hasMore {HasMore}.")]
    public static partial void PageApplied(ILogger logger, string roomId, string method, long? since, object channel, bool full, long seq, int entries, int messages, bool hasMore);

    [LoggerMessage(EventId = 13, Level = LogLevel.Debug, Message = "Room {RoomId}: event at {Position} while at seq {Seq}; a gap: filling it.")]
    public static partial void GapSeen(ILogger logger, string roomId, long position, long seq);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "Room {RoomId}: {Code} while catching up; asking again in {Delay} (attempt {Attempt}).")]
    public static partial void CatchUpRetry(ILogger logger, string roomId, string code, TimeSpan delay, int attempt);
}
