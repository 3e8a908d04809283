using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Server.Hubs;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Tests;

/// <summary>The server's hand-written presence entry JSON is the JSON the serializer would write, and reads back.</summary>
public sealed class PresenceEntryConverterTests
{
    private static readonly JsonSerializerOptions SignalRDefaults = new JsonHubProtocolOptions().PayloadSerializerOptions;

    private static readonly JsonSerializerOptions WithConverter = new(SignalRDefaults) { Converters = { new PresenceEntryConverter() } };

    [Theory]
    [InlineData("ada", "Ada Lovelace", 1)]
    [InlineData("u-\"quoted\"", "名前 \\ <b>", 12)]
    public void A_presence_list_is_written_as_the_serializer_writes_it_and_reads_back(string userId, string name, int connections)
    {
        PresenceEntry[] entries = [new(userId, name, connections), new("bob", "Bob", 2)];

        var written = JsonSerializer.Serialize(entries, WithConverter);

        Assert.Equal(JsonSerializer.Serialize(entries, SignalRDefaults), written);
        Assert.Equal(entries, JsonSerializer.Deserialize<PresenceEntry[]>(written, WithConverter));
    }

    [Fact]
    public void Reading_matches_names_in_any_case_in_any_order_and_skips_unknown_fields()
    {
        var read = JsonSerializer.Deserialize<PresenceEntry>("""{"extra":{"a":[1]},"NAME":"Ada","connections":3,"userId":"ada"}""", WithConverter);

        Assert.Equal(new PresenceEntry("ada", "Ada", 3), read);
    }

    [Fact]
    public void An_entry_without_its_user_id_is_refused()
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<PresenceEntry>("""{"name":"Ada","connections":1}""", WithConverter));
    }
}
