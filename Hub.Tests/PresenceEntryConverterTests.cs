using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Server.Hubs;
using CollabHub.Server.Rooms;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Tests;

/// <summary>The server's hand-written presence entry JSON is the JSON the serializer would write, and reads back.</summary>
public sealed class PresenceEntryConverterTests
{
    private static readonly JsonSerializerOptions SignalRDefaults = new JsonHubProtocolOptions().PayloadSerializerOptions;

    private static readonly JsonSerializerOptions WithConverter = new(SignalRDefaults) { Converters = { new PresenceEntryConverter() } };

    private static readonly JsonSerializerOptions HubOptions = new(SignalRDefaults) { Converters = { new PresenceEntryConverter(), new PresenceListConverter() } };

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
    public void A_join_answer_copies_the_trackers_entries_as_the_serializer_writes_them_and_a_changed_entry_anew()
    {
        var tracker = new MemoryPresenceTracker();
        tracker.Add("r", "c1", "ada", "Ada Lovelace");
        tracker.Add("r", "c2", "u-\"quoted\"", "名前 \\ <b>");
        tracker.Add("r", "c3", "ada", "Ada Lovelace");

        string Answer(out string expected)
        {
            var listing = tracker.List("r", 10);
            Assert.IsType<PresenceList>(listing.Entries);
            var answer = new JoinResult("r", 0, true, [], [], listing.Entries, false, PresenceCount: listing.Count);
            expected = JsonSerializer.Serialize(answer with { Presence = [.. listing.Entries] }, SignalRDefaults);
            return JsonSerializer.Serialize(answer, HubOptions);
        }

        Assert.Equal(Answer(out var expected), expected);
        // The second time from the bytes each entry kept.
        Assert.Equal(Answer(out expected), expected);
        Assert.Contains("\"connections\":2", expected);

        tracker.Remove("r", "c3");
        Assert.Equal(Answer(out expected), expected);
        Assert.Contains("\"connections\":1", expected);
        Assert.DoesNotContain("\"connections\":2", expected);
    }

    [Fact]
    public void A_presence_list_of_any_other_kind_is_written_entry_by_entry_and_reads_back()
    {
        var delta = new PresenceDelta([new PresenceEntry("ada", "Ada", 1)], ["bob"], 1);

        var written = JsonSerializer.Serialize(delta, HubOptions);

        Assert.Equal(JsonSerializer.Serialize(delta, SignalRDefaults), written);
        Assert.Equal(delta.Upserts, JsonSerializer.Deserialize<PresenceDelta>(written, HubOptions)!.Upserts);
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
