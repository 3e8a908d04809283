using System.Text.Json;
using CollabHub.Client;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Tests;

/// <summary>Every refusal has its stable code, and a refused call stores nothing and leaves the connection usable.</summary>
public sealed class ValidationTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static async Task<string> CodeOf(Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<CollabHubException>(() => call().Within());
        Assert.Contains(": ", error.Message);
        return error.Code;
    }

    /// <summary>A joined client, and a check that the room's seq has not moved.</summary>
    private async Task<(CollabConnection Client, string Room)> JoinedAsync()
    {
        var client = await fixture.ConnectAsync("val");
        var room = TestClients.NewRoom();
        await client.JoinAsync(room).Within();
        return (client, room);
    }

    private static async Task AssertNothingStoredAsync(CollabConnection client, string room)
    {
        var sync = await client.SyncAsync(room, 0).Within();
        Assert.Equal(0, sync.Seq);
        Assert.Empty(sync.Entries);
        Assert.Empty(sync.Messages);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("-starts-with-dash")]
    [InlineData("slash/inside")]
    [InlineData("ctrl\u0001")]
    [InlineData("émoji😀")]
    [InlineData("secret\n")]
    public async Task A_malformed_room_id_is_refused_with_invalid_room(string roomId)
    {
        await using var client = await fixture.ConnectAsync("val");

        Assert.Equal(ErrorCodes.InvalidRoom, await CodeOf(() => client.JoinAsync(roomId)));
        Assert.Equal(ErrorCodes.InvalidRoom, await CodeOf(() => client.SetAsync(roomId, "k", 1)));
    }

    [Fact]
    public async Task A_room_id_over_the_length_limit_is_refused_with_invalid_room()
    {
        await using var client = await fixture.ConnectAsync("val");

        Assert.Equal(ErrorCodes.InvalidRoom, await CodeOf(() => client.JoinAsync(new string('r', 129))));
        Assert.Equal(128, (await client.JoinAsync(new string('r', 128)).Within()).RoomId.Length);
    }

    [Fact]
    public async Task Bad_keys_are_refused_with_invalid_key_and_nothing_is_stored()
    {
        var (client, room) = await JoinedAsync();
        await using var _ = client;

        Assert.Equal(ErrorCodes.InvalidKey, await CodeOf(() => client.SetAsync(room, "", 1)));
        Assert.Equal(ErrorCodes.InvalidKey, await CodeOf(() => client.SetAsync(room, new string('k', 257), 1)));
        Assert.Equal(ErrorCodes.InvalidKey, await CodeOf(() => client.SetAsync(room, "tab\there", 1)));
        Assert.Equal(ErrorCodes.InvalidKey, await CodeOf(() => client.DeleteAsync(room, "nul\0")));
        Assert.Equal(ErrorCodes.InvalidKey, await CodeOf(() => client.SetAsync(room, "trailing newline\n", 1)));
        await AssertNothingStoredAsync(client, room);
        Assert.True((await client.SetAsync(room, "note:1/títle 😀", 1).Within()).Applied);
    }

    [Fact]
    public async Task Values_bodies_and_payloads_over_their_limits_are_refused_with_too_large()
    {
        var (client, room) = await JoinedAsync();
        await using var _ = client;
        var tooBig = JsonSerializer.SerializeToElement(new string('x', TestSettings.MaxValueBytes));

        Assert.Equal(ErrorCodes.TooLarge, await CodeOf(() => client.SetAsync(room, "k", tooBig)));
        Assert.Equal(ErrorCodes.TooLarge, await CodeOf(() => client.PostAsync(room, tooBig)));
        Assert.Equal(ErrorCodes.TooLarge, await CodeOf(() => client.SignalAsync(room, JsonSerializer.SerializeToElement(new string('x', 1100)))));
        await AssertNothingStoredAsync(client, room);

        var justFits = JsonSerializer.SerializeToElement(new string('x', TestSettings.MaxValueBytes - 2));
        Assert.True((await client.SetAsync(room, "k", justFits).Within()).Applied);
    }

    [Fact]
    public async Task Writes_reads_and_signals_to_a_room_not_joined_are_refused_with_not_joined()
    {
        await using var client = await fixture.ConnectAsync("val");
        var room = TestClients.NewRoom();

        Assert.Equal(ErrorCodes.NotJoined, await CodeOf(() => client.SetAsync(room, "k", 1)));
        Assert.Equal(ErrorCodes.NotJoined, await CodeOf(() => client.DeleteAsync(room, "k")));
        Assert.Equal(ErrorCodes.NotJoined, await CodeOf(() => client.PostAsync(room, "x")));
        Assert.Equal(ErrorCodes.NotJoined, await CodeOf(() => client.SyncAsync(room, 0)));
        Assert.Equal(ErrorCodes.NotJoined, await CodeOf(() => client.SignalAsync(room, J("1"))));
        var joined = await client.JoinAsync(room).Within();
        Assert.Equal(0, joined.Seq);
    }

    [Fact]
    public async Task Out_of_range_arguments_are_refused_with_invalid_argument()
    {
        var (client, room) = await JoinedAsync();
        await using var _ = client;

        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SyncAsync(room, -1)));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SyncAsync(room, 0, limit: 0)));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SyncAsync(room, 0, limit: TestSettings.MaxPageItems + 1)));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.JoinAsync(room, sinceSeq: -5)));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SetAsync(room, "k", 1, new(ExpectedVersion: -1))));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SetAsync(room, "k", 1, new(MutationId: ""))));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SetAsync(room, "k", 1, new(MutationId: new string('m', 129)))));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SetAsync(room, "k", 1, new(MutationId: "mutation-0001\n"))));
        await AssertNothingStoredAsync(client, room);
    }

    [Theory]
    [InlineData("""{"a":1,"a":2}""")]
    [InlineData("""{"x":{"b":1,"c":[{"b":2,"b":3}]}}""")]
    [InlineData("""{"a":1,"\u0061":2}""")]
    [InlineData("""[{"k":1},{"k":2,"k":3}]""")]
    public async Task Json_with_a_property_name_twice_in_one_object_is_refused_and_nothing_is_stored(string json)
    {
        var (client, room) = await JoinedAsync();
        await using var _ = client;

        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SetAsync(room, "k", J(json))));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.PostAsync(room, J(json))));
        Assert.Equal(ErrorCodes.InvalidArgument, await CodeOf(() => client.SignalAsync(room, J(json))));
        await AssertNothingStoredAsync(client, room);
        // The same names in sibling objects, or differing in case, are fine.
        Assert.True((await client.SetAsync(room, "k", J("""{"a":{"b":1},"c":{"b":2},"A":3}""")).Within()).Applied);
    }

    [Fact]
    public async Task Joining_more_rooms_than_the_limit_is_refused_with_too_many_rooms()
    {
        await using var client = await fixture.ConnectAsync("val");
        var rooms = Enumerable.Range(0, TestSettings.MaxRoomsPerConnection).Select(_ => TestClients.NewRoom()).ToList();
        foreach (var room in rooms)
        {
            await client.JoinAsync(room).Within();
        }

        Assert.Equal(ErrorCodes.TooManyRooms, await CodeOf(() => client.JoinAsync(TestClients.NewRoom())));
        await client.JoinAsync(rooms[0]).Within();
        await client.LeaveAsync(rooms[0]).Within();
        await client.JoinAsync(TestClients.NewRoom()).Within();
    }

    [Fact]
    public async Task Missing_or_mistyped_request_objects_get_an_error_and_the_connection_stays_usable()
    {
        var room = TestClients.NewRoom();
        await using var raw = new HubConnectionBuilder().WithDirectWebSocket(new Uri(fixture.Server.HubUrl + "?name=raw")).Build();
        await raw.StartAsync().Within();

        var nullRequest = await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<JoinResult>("Join", null).Within());
        Assert.Equal(ErrorCodes.InvalidArgument, ErrorCodes.Parse(nullRequest.Message));
        await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<JoinResult>("Join", 42).Within());
        await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<JoinResult>("Join", new { roomId = new[] { 1, 2 } }).Within());
        await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<object>("NoSuchMethod", new { }).Within());
        var missingRoom = await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<JoinResult>("Join", new { }).Within());
        Assert.Equal(ErrorCodes.InvalidRoom, ErrorCodes.Parse(missingRoom.Message));

        var joined = await raw.InvokeAsync<JoinResult>("Join", new { roomId = room }).Within();
        Assert.Equal(room, joined.RoomId);
        var missingValue = await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<WriteResult>("Set", new { roomId = room, key = "k" }).Within());
        Assert.Equal(ErrorCodes.InvalidArgument, ErrorCodes.Parse(missingValue.Message));
        var missingBody = await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<PostResult>("Post", new { roomId = room }).Within());
        Assert.Equal(ErrorCodes.InvalidArgument, ErrorCodes.Parse(missingBody.Message));
        var missingSince = await Assert.ThrowsAsync<HubException>(() => raw.InvokeAsync<SyncResult>("Sync", new { roomId = room }).Within());
        Assert.Equal(ErrorCodes.InvalidArgument, ErrorCodes.Parse(missingSince.Message));
        var nullValue = await raw.InvokeAsync<WriteResult>("Set", new { roomId = room, key = "k", value = (object?)null }).Within();
        Assert.True(nullValue.Applied);
        Assert.False(nullValue.Entry!.Deleted);
        Assert.True(nullValue.Entry.Value is null or { ValueKind: JsonValueKind.Null });
    }

    [Fact]
    public async Task A_frame_over_the_hub_message_limit_closes_that_connection_and_the_server_serves_others()
    {
        var (client, room) = await JoinedAsync();
        await using var _ = client;
        var closed = new TaskCompletionSource<Exception?>();
        client.Closed += error => closed.TrySetResult(error);
        var huge = JsonSerializer.SerializeToElement(new string('x', 1024 * 1024));

        await Assert.ThrowsAnyAsync<Exception>(() => client.SetAsync(room, "k", huge).Within());
        await closed.Task.Within();

        await using var other = await fixture.ConnectAsync("other");
        await other.JoinAsync(room).Within();
        Assert.Equal(0, (await other.SyncAsync(room, 0).Within()).Seq);
    }
}
