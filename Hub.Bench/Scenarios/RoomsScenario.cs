using CollabHub.Bench.Driver;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// Issue 10's rooms: 1,000 and 5,000 connections of distinct users joining ONE room, and 2,000 in 20 rooms:
/// connect+join rate against the bare hub, server memory per joined idle connection, whether every client joined and
/// none dropped, and the presence bytes one listener in the (first) room receives while the others join.
/// </summary>
internal sealed class RoomsScenario : IScenario
{
    public string Name => "rooms";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        (int Count, int Rooms)[] cases = context.Quick ? [(100, 1), (100, 4)] : [(1_000, 1), (5_000, 1), (2_000, 20)];
        var rows = new List<Reporting.ResultRow>();
        foreach (var system in new[] { SystemSpec.CollabHub, SystemSpec.BareSignalR })
        {
            Reporting.ResultRow? unfinished = null;
            foreach (var (count, rooms) in cases)
            {
                var label = $"{count:#,0} users, {(rooms == 1 ? "one room" : $"{rooms} rooms")}";
                // A bigger room is not tried when a smaller one already did not finish in time.
                var skip = rooms == 1 && unfinished is not null;
                rows.Add(skip
                    ? IdleConnections.NotRun(Name, system, label, count, unfinished!)
                    : await IdleConnections.RunAsync(context, Name, system, label, count, i => new ClientPlan($"user{i}", $"rooms{i % rooms}"), countPresence: true));
                if (rooms == 1 && !skip && rows[^1].Incomplete)
                {
                    unfinished = rows[^1];
                }
            }
        }
        return new ScenarioResult(rows, [IdleConnections.MemoryChart("rooms-memory.svg", "rooms: server memory per joined connection, distinct users", rows, r => r.Case.Split(", ")[1])]);
    }
}
