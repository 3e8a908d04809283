using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using CollabHub.Protocol;
using CollabHub.Server.Rooms;

namespace CollabHub.Server.Hubs;

/// <summary>
/// Writes a <see cref="PresenceEntry"/> as its three wire fields directly. A join into a full room answers with up to
/// <c>Presence:MaxListed</c> (1,000) of them, and the serializer's general path (property metadata and a frame pushed
/// and popped per entry) made that list the largest part of a join's server CPU; the output is the same JSON.
/// </summary>
internal sealed class PresenceEntryConverter : JsonConverter<PresenceEntry>
{
    private static readonly JsonEncodedText UserId = JsonEncodedText.Encode("userId");
    private static readonly JsonEncodedText Name = JsonEncodedText.Encode("name");
    private static readonly JsonEncodedText Connections = JsonEncodedText.Encode("connections");

    public override void Write(Utf8JsonWriter writer, PresenceEntry value, JsonSerializerOptions options) => WriteEntry(writer, value);

    public static void WriteEntry(Utf8JsonWriter writer, PresenceEntry value)
    {
        writer.WriteStartObject();
        writer.WriteString(UserId, value.UserId);
        writer.WriteString(Name, value.Name);
        writer.WriteNumber(Connections, value.Connections);
        writer.WriteEndObject();
    }

    public override PresenceEntry Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("A presence entry must be a JSON object.");
        }
        string? userId = null, name = null;
        var connections = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var property = reader.GetString();
            reader.Read();
            if (string.Equals(property, "userId", StringComparison.OrdinalIgnoreCase))
            {
                userId = reader.GetString();
            }
            else if (string.Equals(property, "name", StringComparison.OrdinalIgnoreCase))
            {
                name = reader.GetString();
            }
            else if (string.Equals(property, "connections", StringComparison.OrdinalIgnoreCase))
            {
                connections = reader.GetInt32();
            }
            else
            {
                reader.Skip();
            }
        }
        return new PresenceEntry(
            userId ?? throw new JsonException("A presence entry needs a userId."),
            name ?? throw new JsonException("A presence entry needs a name."),
            connections);
    }
}

/// <summary>
/// Writes a presence list (a join's <c>presence</c>, a delta's <c>upserts</c>). A <see cref="PresenceList"/> of this
/// instance's tracker is copied entry by entry from the JSON each entry keeps (written the first time with this
/// writer's options, so the bytes are the same); any other list is written entry by entry.
/// </summary>
internal sealed class PresenceListConverter : JsonConverter<IReadOnlyList<PresenceEntry>>
{
    private static readonly PresenceEntryConverter Entry = new();

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<PresenceEntry> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        if (value is PresenceList listed)
        {
            foreach (var user in listed.Users)
            {
                writer.WriteRawValue(user.Json ??= Encode(user.Entry, writer.Options), skipInputValidation: true);
            }
        }
        else
        {
            foreach (var entry in value)
            {
                PresenceEntryConverter.WriteEntry(writer, entry);
            }
        }
        writer.WriteEndArray();
    }

    private static byte[] Encode(PresenceEntry entry, JsonWriterOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer, options))
        {
            PresenceEntryConverter.WriteEntry(writer, entry);
        }
        return buffer.WrittenSpan.ToArray();
    }

    public override IReadOnlyList<PresenceEntry> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("A presence list must be a JSON array.");
        }
        var entries = new List<PresenceEntry>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            entries.Add(Entry.Read(ref reader, typeof(PresenceEntry), options));
        }
        return entries;
    }
}
