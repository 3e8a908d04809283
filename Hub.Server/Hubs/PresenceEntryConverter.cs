using System.Text.Json;
using System.Text.Json.Serialization;
using CollabHub.Protocol;

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

    public override void Write(Utf8JsonWriter writer, PresenceEntry value, JsonSerializerOptions options)
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
