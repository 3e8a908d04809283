using System.Diagnostics;
using System.Runtime.InteropServices;
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

/// <summary>
/// What a join (or a sync page) answered: the position it brings the client to, its size in bytes, whether more
/// pages follow. Read straight off the wire (<see cref="JoinAnswerConverter"/>): a join into a full room lists a
/// thousand users, and the driver, sharing the machine with the server, must not spend its time building them.
/// </summary>
[JsonConverter(typeof(JoinAnswerConverter))]
internal readonly record struct JoinAnswer(long Seq, int Bytes, bool HasMore)
{
    public static JoinAnswer From(JsonElement answer) => new(
        answer.TryGetProperty("seq", out var seq) ? seq.GetInt64() : 0,
        JsonMarshal.GetRawUtf8Value(answer).Length,
        answer.TryGetProperty("hasMore", out var more) && more.GetBoolean());
}

/// <summary>Reads <c>seq</c> and <c>hasMore</c> and skips the rest, counting the answer's bytes.</summary>
internal sealed class JoinAnswerConverter : JsonConverter<JoinAnswer>
{
    public override JoinAnswer Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var start = reader.TokenStartIndex;
        long seq = 0;
        var hasMore = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isSeq = reader.ValueTextEquals("seq"u8);
            var isHasMore = !isSeq && reader.ValueTextEquals("hasMore"u8);
            reader.Read();
            if (isSeq)
            {
                seq = reader.GetInt64();
            }
            else if (isHasMore)
            {
                hasMore = reader.GetBoolean();
            }
            else
            {
                reader.Skip();
            }
        }
        return new JoinAnswer(seq, (int)(reader.BytesConsumed - start), hasMore);
    }

    public override void Write(Utf8JsonWriter writer, JoinAnswer value, JsonSerializerOptions options) =>
        throw new NotSupportedException("a join answer is only read");
}

/// <summary>The size of an event's payload, skipped rather than parsed (see <see cref="JoinAnswer"/>).</summary>
[JsonConverter(typeof(PayloadSizeConverter))]
internal readonly record struct PayloadSize(int Bytes);

internal sealed class PayloadSizeConverter : JsonConverter<PayloadSize>
{
    public override PayloadSize Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var start = reader.TokenStartIndex;
        reader.Skip();
        return new PayloadSize((int)(reader.BytesConsumed - start));
    }

    public override void Write(Utf8JsonWriter writer, PayloadSize value, JsonSerializerOptions options) =>
        throw new NotSupportedException("a payload size is only read");
}

/// <summary>A Changed event as a listener sees it: the room's seq and the writer's send timestamp.</summary>
internal readonly record struct ChangedEvent(string RoomId, long Seq, long SentTimestamp)
{
    public static ChangedEvent From(string roomId, JsonElement entry) => new(
        roomId,
        entry.GetProperty("version").GetInt64(),
        entry.GetProperty("value").GetProperty("t").GetInt64());
}
