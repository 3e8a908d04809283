using CollabHub.Bench.Driver;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// 1k, 5k and 10k idle connections, each joined to a room (spread over 100 rooms, or all in one): server memory per
/// connection and the time to connect and join them all. The connections of a room share one user name, so that
/// CollabHub's presence list stays one entry (the rooms scenario measures distinct users).
/// </summary>
internal sealed class ConnectionsScenario : IScenario
{
    public string Name => "connections";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        int[] counts = context.Quick ? [100] : [1_000, 5_000, 10_000];
        var rows = new List<ResultRow>();
        foreach (var system in new[] { SystemSpec.CollabHub, SystemSpec.BareSignalR, SystemSpec.SocketIO })
        {
            foreach (var rooms in new[] { 100, 1 })
            {
                ResultRow? unfinished = null;
                foreach (var count in counts)
                {
                    var label = $"{count:#,0} connections, {(rooms == 1 ? "1 room" : $"{rooms} rooms")}";
                    rows.Add(unfinished is null
                        ? await IdleConnections.RunAsync(context, Name, system, label, count, i => new ClientPlan($"user{i % rooms}", $"conn{i % rooms}"), countPresence: false)
                        : IdleConnections.NotRun(Name, system, label, count, unfinished));
                    unfinished ??= rows[^1].Incomplete ? rows[^1] : null;
                }
            }
        }
        return new ScenarioResult(rows, [IdleConnections.MemoryChart("connections-memory.svg", "connections: server memory per idle joined connection", rows, r => r.Case.Split(", ")[1])]);
    }
}
