using System.Text.Json;
using CollabHub.Protocol;

namespace CollabHub.Server.Store;

/// <summary>Turns rows into wire objects, and results into the JSON kept for exactly-once replays.</summary>
internal static class StoreJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public static DateTimeOffset ToTime(long unixMilliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds);

    public static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static Entry ToEntry(EntryRow row) => new(
        row.Key,
        row.ValueJson is null ? null : Parse(row.ValueJson),
        row.Version,
        row.Deleted,
        row.By,
        ToTime(row.At));

    public static Message ToMessage(MessageRow row) => new(row.Seq, row.Id, Parse(row.BodyJson), row.By, ToTime(row.At));

    public static string Serialize(WriteOutcome outcome) => outcome switch
    {
        { Write: { } write } => JsonSerializer.Serialize(write, Options),
        { Batch: { } batch } => JsonSerializer.Serialize(batch, Options),
        _ => JsonSerializer.Serialize(outcome.Post!, Options),
    };

    /// <summary>The recorded first outcome, marked as a duplicate.</summary>
    public static WriteOutcome Replay(MutationRow row) => row.Kind switch
    {
        WriteKind.Post => new WriteOutcome(null, JsonSerializer.Deserialize<PostResult>(row.ResultJson, Options)! with { Duplicate = true }),
        WriteKind.Batch => new WriteOutcome(null, null, Batch: JsonSerializer.Deserialize<BatchResult>(row.ResultJson, Options)! with { Duplicate = true }),
        _ => new WriteOutcome(JsonSerializer.Deserialize<WriteResult>(row.ResultJson, Options)! with { Duplicate = true }, null),
    };
}
