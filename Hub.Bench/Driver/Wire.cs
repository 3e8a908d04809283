using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CollabHub.Bench.Driver;

/// <summary>
/// The value every system is sent: exactly 100 bytes of JSON, <c>{"t":&lt;send timestamp&gt;,"p":"xx…"}</c>, so a
/// listener can tell the end-to-end latency (all clients live in the bench process and share its clock).
/// </summary>
internal readonly record struct BenchValue([property: JsonPropertyName("t")] long T, [property: JsonPropertyName("p")] string P)
{
    public const int Bytes = 100;

    // {"t":,"p":""} is 13 bytes; the padding makes up the rest for a timestamp of any length.
    private static readonly string[] Paddings = Enumerable.Range(0, 20).Select(digits => new string('x', Math.Max(0, Bytes - 13 - digits))).ToArray();

    public static BenchValue Now()
    {
        var t = Stopwatch.GetTimestamp();
        return new BenchValue(t, Paddings[(int)Math.Floor(Math.Log10(Math.Max(t, 1))) + 1]);
    }

    /// <summary>Microseconds since the value was made.</summary>
    public static long MicrosecondsSince(long timestamp) => (long)Stopwatch.GetElapsedTime(timestamp).TotalMicroseconds;
}

internal sealed record JoinArgs([property: JsonPropertyName("roomId")] string RoomId, [property: JsonPropertyName("sinceSeq")] long? SinceSeq = null);

internal sealed record SetArgs([property: JsonPropertyName("roomId")] string RoomId, [property: JsonPropertyName("key")] string Key, [property: JsonPropertyName("value")] BenchValue Value);

internal sealed record SyncArgs([property: JsonPropertyName("roomId")] string RoomId, [property: JsonPropertyName("sinceSeq")] long SinceSeq);

/// <summary>What a join (or a sync page) answered: the position it brings the client to, its size, whether more pages follow.</summary>
internal readonly record struct JoinAnswer(long Seq, int Bytes, bool HasMore)
{
    public static JoinAnswer From(JsonElement answer) => new(
        answer.TryGetProperty("seq", out var seq) ? seq.GetInt64() : 0,
        answer.GetRawText().Length,
        answer.TryGetProperty("hasMore", out var more) && more.GetBoolean());
}

/// <summary>A Changed event as a listener sees it: the room's seq and the writer's send timestamp.</summary>
internal readonly record struct ChangedEvent(string RoomId, long Seq, long SentTimestamp)
{
    public static ChangedEvent From(string roomId, JsonElement entry) => new(
        roomId,
        entry.GetProperty("version").GetInt64(),
        entry.GetProperty("value").GetProperty("t").GetInt64());
}
