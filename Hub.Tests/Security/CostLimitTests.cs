using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;
using Microsoft.Data.Sqlite;

namespace CollabHub.Tests.Security;

/// <summary>
/// Caps on what one user can make the server do (issue 15, items 2 and 6): reads are rate limited per connection and
/// budgeted in bytes per user, new rooms per user are rate limited, and messages are purged by count and by age.
/// </summary>
[Collection(AttackServerCollection.Name)]
public sealed class CostLimitTests(AttackServerFixture fixture)
{
    private PrivateProductionServer Server => fixture.Server;

    private static string NewUser(string name) => $"{name}-{Guid.NewGuid():N}";

    /// <summary>A room owned by a fresh user, with <paramref name="others"/> granted <paramref name="role"/> and joined.</summary>
    private async Task<(string Room, RawSignalRSocket Owner, RawSignalRSocket[] Others)> RoomAsync(int others, string role = "viewer")
    {
        var room = TestClients.NewRoom("cost");
        var owner = await Server.ConnectAsync(NewUser("owner"));
        await owner.ResultOfAsync("Join", new { roomId = room });
        var joined = new RawSignalRSocket[others];
        for (var i = 0; i < others; i++)
        {
            var userId = NewUser($"member{i}");
            await owner.ResultOfAsync("Grant", new { roomId = room, userId, role });
            joined[i] = await Server.ConnectAsync(userId);
            await joined[i].ResultOfAsync("Join", new { roomId = room });
        }
        return (room, owner, joined);
    }

    private static async Task DisposeAllAsync(RawSignalRSocket owner, RawSignalRSocket[] others)
    {
        await owner.DisposeAsync();
        foreach (var other in others)
        {
            await other.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_connection_firing_200_Syncs_at_once_is_rate_limited_and_another_user_in_the_room_is_not()
    {
        var (room, owner, others) = await RoomAsync(1);
        try
        {
            var reader = others[0];
            await owner.ResultOfAsync("Set", new { roomId = room, key = "k", value = 1 });

            var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => reader.CallAsync("Sync", new { roomId = room, sinceSeq = 0 })));

            var refused = outcomes.Where(o => o.Kind == OutcomeKind.Error).ToList();
            Assert.True(refused.Count > 0, "none of 200 Syncs at once was refused");
            Assert.All(refused, o => Assert.Equal(Protocol.ErrorCodes.RateLimited, o.Code));
            Assert.All(outcomes.Where(o => o.Kind != OutcomeKind.Error), o => Assert.Equal(OutcomeKind.Result, o.Kind));
            var other = await owner.CallAsync("Sync", new { roomId = room, sinceSeq = 0 });
            Assert.True(other.Kind == OutcomeKind.Result, $"another user's Sync in the room got {other}");
        }
        finally
        {
            await DisposeAllAsync(owner, others);
        }
    }

    [Fact]
    public async Task A_user_repeating_full_Syncs_of_a_large_room_is_rate_limited_once_its_byte_budget_is_spent_and_another_user_is_not()
    {
        // Both readers join while the room is empty; then it fills with 300 KB, more than the budget's burst (128 KiB).
        var (room, owner, others) = await RoomAsync(2);
        try
        {
            var value = new string('v', 30_000);
            for (var i = 0; i < 10; i++)
            {
                await owner.ResultOfAsync("Set", new { roomId = room, key = $"big-{i}", value });
            }
            var (reader, bystander) = (others[0], others[1]);

            var outcomes = new List<Outcome>();
            for (var i = 0; i < 10; i++)
            {
                outcomes.Add(await reader.CallAsync("Sync", new { roomId = room, sinceSeq = 0 }));
            }

            var refused = outcomes.Where(o => o.Kind == OutcomeKind.Error).ToList();
            Assert.True(refused.Count > 0, $"none of 10 full Syncs of 300 KB was refused (budget {AttackServerFixture.UserReadBytesPerSecond} B/s, burst {AttackServerFixture.UserReadBytesBurst} B)");
            Assert.All(refused, o => Assert.Equal(Protocol.ErrorCodes.RateLimited, o.Code));
            // Two values (60 KB) fit the bystander's own budget however the server charges a read.
            var other = await bystander.CallAsync("Sync", new { roomId = room, sinceSeq = 0, limit = 2 });
            Assert.True(other.Kind == OutcomeKind.Result, $"another user's Sync got {other}");
        }
        finally
        {
            await DisposeAllAsync(owner, others);
        }
    }

    [Fact]
    public async Task A_user_creating_private_rooms_in_a_loop_is_rate_limited_and_the_refused_rooms_are_not_created()
    {
        await using var creator = await Server.ConnectAsync(NewUser("creator"));
        string? refusedRoom = null;
        Outcome? refusal = null;
        var created = 0;
        for (var i = 0; i < 25 && refusedRoom is null; i++)
        {
            var room = TestClients.NewRoom("many");
            var outcome = await creator.CallAsync("Join", new { roomId = room });
            if (outcome.Kind == OutcomeKind.Result)
            {
                created++;
                await creator.ResultOfAsync("Leave", new { roomId = room });
            }
            else
            {
                (refusedRoom, refusal) = (room, outcome);
            }
        }

        Assert.True(refusedRoom is not null, $"one user created {created} private rooms in a row, none refused");
        Assert.Equal(Protocol.ErrorCodes.RateLimited, refusal!.Code);
        // The refused room was not created: somebody else can still claim it.
        await using var claimant = await Server.ConnectAsync(NewUser("claimant"));
        var claimed = await claimant.ResultOfAsync("Join", new { roomId = refusedRoom });
        Assert.Equal("owner", claimed.GetProperty("role").GetString());
    }

    [Fact]
    public async Task A_room_keeps_only_its_newest_messages_up_to_the_retention_count()
    {
        const int retained = AttackServerFixture.RetainedMessages;
        var (room, owner, others) = await RoomAsync(0);
        try
        {
            await PostAsync(owner, room, retained + 50);

            // The purge runs every second.
            (long Count, long Min, long Max) kept = default;
            await Eventually.HoldsAsync(
                async () =>
                {
                    kept = await CountMessagesAsync(Server.DatabasePath, room);
                    return kept.Count == retained && kept.Min == kept.Max - retained + 1;
                },
                () => $"the room to keep only its newest {retained} messages; the database still has {kept.Count} (seq {kept.Min} to {kept.Max})",
                TestClients.Timeout,
                TimeSpan.FromMilliseconds(250));
            var sync = await owner.ResultOfAsync("Sync", new { roomId = room, sinceSeq = 0 });
            var newest = sync.GetProperty("seq").GetInt64();
            Assert.All(sync.GetProperty("messages").EnumerateArray(), m => Assert.True(m.GetProperty("seq").GetInt64() > newest - retained));
        }
        finally
        {
            await DisposeAllAsync(owner, others);
        }
    }

    [Fact]
    public async Task Messages_older_than_the_retention_age_are_purged()
    {
        await using var server = await PrivateProductionServer.StartAsync(new Dictionary<string, string>
        {
            ["CollabHub:Store:Retention:MaxAge"] = "00:00:03",
            ["CollabHub:Store:PurgeInterval"] = "00:00:01",
        });
        var room = TestClients.NewRoom("aged");
        await using var owner = await server.ConnectAsync(NewUser("owner"));
        await owner.ResultOfAsync("Join", new { roomId = room });
        await PostAsync(owner, room, 10);

        long kept = 0;
        await Eventually.HoldsAsync(
            async () => (kept = (await CountMessagesAsync(server.DatabasePath, room)).Count) == 0,
            () => $"the room's messages to pass the retention age and be purged; the database still has {kept}",
            TestClients.Timeout,
            TimeSpan.FromMilliseconds(250));
        await PostAsync(owner, room, 1);
        Assert.Equal(1, (await CountMessagesAsync(server.DatabasePath, room)).Count);
    }

    /// <summary>Posts <paramref name="count"/> messages, waiting out the write rate limit when it refuses one.</summary>
    private static async Task PostAsync(RawSignalRSocket socket, string room, int count)
    {
        for (var i = 0; i < count;)
        {
            var outcome = await socket.CallAsync("Post", new { roomId = room, body = new { n = i } });
            if (outcome.Kind == OutcomeKind.Result)
            {
                i++;
                continue;
            }
            Assert.True(outcome.Code == "rate_limited", $"Post {i} failed: {outcome}");
            await Task.Delay(100);
        }
    }

    /// <summary>How many messages of <paramref name="room"/> the server's SQLite file holds, and their lowest and highest seq.</summary>
    private static async Task<(long Count, long Min, long Max)> CountMessagesAsync(string databasePath, string room)
    {
        await using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly");
        await connection.OpenAsync().Within();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM messages WHERE room_id = $room";
        command.Parameters.AddWithValue("$room", room);
        await using var reader = await command.ExecuteReaderAsync().Within();
        await reader.ReadAsync().Within();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }
}
