using CollabHub.Tests.Hostile;
using CollabHub.Tests.Infrastructure;
using CollabHub.Tests.Security;
using Microsoft.Data.Sqlite;

namespace CollabHub.Tests.Access;

/// <summary>
/// A private room always keeps an owner, and is never claimable again once it has had one (issue 15, item 3): role
/// changes re-check the caller's role where they are applied, so two owners revoking or demoting each other at the
/// same moment leave one of them owner.
/// </summary>
[Collection(AttackServerCollection.Name)]
public sealed class OwnerInvariantTests(AttackServerFixture fixture)
{
    private const int Rounds = 10;

    private PrivateProductionServer Server => fixture.Server;

    private static string NewUser(string name) => $"{name}-{Guid.NewGuid():N}";

    [Theory]
    [InlineData("none")]
    [InlineData("editor")]
    public async Task Two_owners_taking_each_others_ownership_at_the_same_moment_leave_exactly_one_owner(string role)
    {
        var failures = new List<string>();
        for (var round = 0; round < Rounds; round++)
        {
            var room = TestClients.NewRoom("owners");
            var (adaId, bobId) = (NewUser("ada"), NewUser("bob"));
            await using var ada = await Server.ConnectAsync(adaId);
            await using var bob = await Server.ConnectAsync(bobId);
            await using var stranger = await Server.ConnectAsync(NewUser("carol"));
            await ada.ResultOfAsync("Join", new { roomId = room });
            await ada.ResultOfAsync("Grant", new { roomId = room, userId = bobId, role = "owner" });
            await bob.ResultOfAsync("Join", new { roomId = room });

            var adaGrant = ada.CallAsync("Grant", new { roomId = room, userId = bobId, role });
            var bobGrant = bob.CallAsync("Grant", new { roomId = room, userId = adaId, role });
            var outcomes = await Task.WhenAll(adaGrant, bobGrant);

            var won = outcomes.Count(o => o.Kind == OutcomeKind.Result);
            // The loser is no longer an owner when its grant is applied (forbidden), or, had the winner's revocation
            // already reached its connection, no longer in the room at all (not_joined).
            var lostWithForbidden = outcomes.Count(o => o.Code is "forbidden" or "not_joined");
            var winner = outcomes[0].Kind == OutcomeKind.Result ? ada : bob;
            var winnerAccess = await winner.CallAsync("GetAccess", new { roomId = room });
            var strangerJoin = await stranger.CallAsync("Join", new { roomId = room });
            if (won != 1 || lostWithForbidden != 1 || winnerAccess.Kind != OutcomeKind.Result || strangerJoin.Code != "forbidden")
            {
                failures.Add($"round {round}: ada's grant {outcomes[0]}, bob's grant {outcomes[1]}; the winner's GetAccess {winnerAccess}; a stranger's Join {strangerJoin}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {Rounds} rounds broke the owner invariant:\n{string.Join("\n", failures)}");
    }

    [Fact]
    public async Task The_last_owner_cannot_be_removed_or_demoted_by_anyone()
    {
        var room = TestClients.NewRoom("owners");
        var (adaId, bobId) = (NewUser("ada"), NewUser("bob"));
        await using var ada = await Server.ConnectAsync(adaId);
        await using var bob = await Server.ConnectAsync(bobId);
        await ada.ResultOfAsync("Join", new { roomId = room });

        Assert.Equal("invalid_argument", await ada.ErrorOfAsync("Grant", new { roomId = room, userId = adaId, role = "none" }));
        Assert.Equal("invalid_argument", await ada.ErrorOfAsync("Grant", new { roomId = room, userId = adaId, role = "editor" }));
        await ada.ResultOfAsync("Grant", new { roomId = room, userId = bobId, role = "owner" });
        await bob.ResultOfAsync("Join", new { roomId = room });
        await bob.ResultOfAsync("Grant", new { roomId = room, userId = adaId, role = "none" });

        // Bob is the last owner now: he cannot step down, and ada (no longer an owner) cannot remove or demote him.
        Assert.Equal("invalid_argument", await bob.ErrorOfAsync("Grant", new { roomId = room, userId = bobId, role = "none" }));
        Assert.Equal("invalid_argument", await bob.ErrorOfAsync("Grant", new { roomId = room, userId = bobId, role = "viewer" }));
        foreach (var role in new[] { "none", "viewer" })
        {
            var code = await ada.ErrorOfAsync("Grant", new { roomId = room, userId = bobId, role });
            Assert.True(code is "forbidden" or "not_joined", $"ada's Grant of {role} to bob failed with {code}");
        }
        Assert.Equal("forbidden", await ada.ErrorOfAsync("Join", new { roomId = room }));
        var access = await bob.ResultOfAsync("GetAccess", new { roomId = room });
        var members = access.GetProperty("members").EnumerateArray().Select(m => (m.GetProperty("userId").GetString(), m.GetProperty("role").GetString())).ToList();
        Assert.Equal([(bobId, "owner")], members);
    }

    [Fact]
    public async Task A_room_that_had_an_owner_is_not_claimable_even_when_its_access_rows_are_gone()
    {
        await using var server = await PrivateProductionServer.StartAsync();
        var room = TestClients.NewRoom("owned");
        await using (var ada = await server.ConnectAsync(NewUser("ada")))
        {
            Assert.Equal("owner", (await ada.ResultOfAsync("Join", new { roomId = room })).GetProperty("role").GetString());
        }
        await server.Server.StopAsync();
        await using (var database = new SqliteConnection($"Data Source={server.DatabasePath}"))
        {
            await database.OpenAsync().Within();
            await using var delete = database.CreateCommand();
            delete.CommandText = "DELETE FROM room_access WHERE room_id = $room";
            delete.Parameters.AddWithValue("$room", room);
            Assert.Equal(1, await delete.ExecuteNonQueryAsync().Within());
        }
        SqliteConnection.ClearAllPools();
        await server.Server.RestartAsync();

        await using var carol = await server.ConnectAsync(NewUser("carol"));
        var join = await carol.CallAsync("Join", new { roomId = room });

        Assert.True(join.Code == "forbidden", $"a stranger's Join of the room whose owner rows are gone got {join}");
    }
}
