using System.Globalization;
using CollabHub.Bench.Driver;
using CollabHub.Bench.Measurement;
using CollabHub.Bench.Reporting;
using CollabHub.Bench.Systems;

namespace CollabHub.Bench.Scenarios;

/// <summary>
/// One case of idle joined connections, shared by <c>connections</c> and <c>rooms</c>: a fresh server, n clients
/// connected and joined under a deadline in two halves, its memory before, between and after (2 s after each half),
/// so what one more connection costs (the second half's growth per connection) and the growth from the start per
/// connection; the time to join them all; and, optionally, the presence bytes one listener in the first room
/// receives while the others join.
/// </summary>
internal static class IdleConnections
{
    public static async Task<ResultRow> RunAsync(ScenarioContext context, string scenario, SystemSpec system, string label, int count, Func<int, ClientPlan> plan, bool countPresence)
    {
        await using var deployment = await context.StartAsync(system, warm: true);
        try
        {
            return await MeasureAsync(context, deployment, scenario, label, count, plan, countPresence);
        }
        catch (Exception ex)
        {
            // One broken case must not lose the others: it becomes a row that says what happened.
            context.Say($"{system.Name}: {label} failed: {ex.Message}\n{deployment.Describe()}");
            return new ResultRow(scenario, label, system.Name, null, "joins/s", null, null, null, null)
            {
                Extra = [new("joined", $"failed: {ex.GetBaseException().Message}")],
                ChartX = count,
                    Incomplete = true,
            };
        }
    }

    private static async Task<ResultRow> MeasureAsync(ScenarioContext context, Deployment deployment, string scenario, string label, int count, Func<int, ClientPlan> plan, bool countPresence)
    {
        var system = deployment.System;
        var deadline = context.Quick ? TimeSpan.FromSeconds(20) : TimeSpan.FromSeconds(60);
        await Task.Delay(context.Settle(1));
        var baseline = deployment.Meter.ResidentBytes();
        long presenceBytes = 0;
        await using var listener = deployment.Client("presence-listener");
        if (countPresence)
        {
            listener.Presence = bytes => Interlocked.Add(ref presenceBytes, bytes);
        }
        await listener.ConnectAsync(CancellationToken.None);
        await listener.JoinAsync(plan(0).RoomId, null, CancellationToken.None);

        context.Say($"{system.Name}: {label}");
        await using var clients = new ClientSet();
        await using var window = ResourceWindow.Start(deployment.Meter);
        // In two halves, the memory read after each: the second half's growth is what one more connection costs,
        // without what the first joins cost once (code compiled on first use, pools and caches filled).
        var half = count / 2;
        var elapsed = await clients.ConnectAsync(deployment, 0, half, plan, null, deadline, context.Say);
        var joinedAtHalf = clients.Joined;
        await Task.Delay(context.Settle(2));
        var atHalf = deployment.Meter.ResidentBytes();
        if (deadline > elapsed)
        {
            elapsed += await clients.ConnectAsync(deployment, half, count, plan, null, deadline - elapsed, context.Say);
        }
        await Task.Delay(context.Settle(2));
        var resources = await window.StopAsync();
        var atEnd = deployment.Meter.ResidentBytes();
        var all = clients.Joined == count;
        var marginalKb = (atEnd - atHalf) / 1024.0 / Math.Max(1, clients.Joined - joinedAtHalf);
        var averageKb = (atEnd - baseline) / 1024.0 / Math.Max(1, clients.Joined);
        var extra = new List<KeyValuePair<string, string>>
        {
            new("joined", all ? $"all {count:#,0}" : $"{clients.Joined:#,0} of {count:#,0}{(clients.Failed > 0 ? $" ({clients.Failed:#,0} failed: {clients.FirstError})" : $" in the {deadline.TotalSeconds:0} s allowed")}"),
            new("dropped after joining", clients.Dropped.ToString("#,0", CultureInfo.InvariantCulture)),
            new("time to join all, s", all ? elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) : $"> {deadline.TotalSeconds:0}"),
            new("server KB per connection", marginalKb.ToString("0.0", CultureInfo.InvariantCulture)),
            new("server KB per connection, from start", averageKb.ToString("0.0", CultureInfo.InvariantCulture)),
        };
        if (countPresence)
        {
            extra.Add(new("presence bytes to one listener", system.IsCollabHub ? presenceBytes.ToString("#,0", CultureInfo.InvariantCulture) : "no presence"));
        }
        return new ResultRow(scenario, label, system.Name, clients.Joined / elapsed.TotalSeconds, "joins/s",
            clients.ConnectLatency.PercentileMs(50), clients.ConnectLatency.PercentileMs(95), clients.ConnectLatency.PercentileMs(99), resources)
        {
            Extra = extra,
            ChartX = count,
            ChartValues = { ["kbPerConnection"] = marginalKb },
            Incomplete = !all || clients.Dropped > 0,
        };
    }

    /// <summary>The row of a case left out because a smaller one (<paramref name="unfinished"/>) did not finish: it would only take the deadline again.</summary>
    public static ResultRow NotRun(string scenario, SystemSpec system, string label, int count, ResultRow unfinished) =>
        new(scenario, label, system.Name, null, "joins/s", null, null, null, null)
        {
            Extra = [new("joined", $"not run: {unfinished.Case} did not finish")],
            ChartX = count,
            Incomplete = true,
        };

    /// <summary>Server memory per connection against the connection count, one line per system and layout.</summary>
    public static (string, SvgChart) MemoryChart(string file, string title, List<ResultRow> rows, Func<ResultRow, string> layout) =>
        (file, new SvgChart(title, "connections", "server KB per joined connection", LogX: true, LogY: false,
            rows.GroupBy(r => $"{r.System}, {layout(r)}")
                .Select(g => new ChartSeries(g.Key, g.Where(r => !r.Incomplete && r.ChartValues.ContainsKey("kbPerConnection")).Select(r => (r.ChartX!.Value, r.ChartValues["kbPerConnection"])).ToList()))
                .ToList()));
}
