namespace CollabHub.Bench.Scenarios;

/// <summary>
/// Cross-instance delivery: CollabHub's Redis backplane against SignalR's stock one and Socket.IO's redis-adapter,
/// at fixed rates (1k and 10k writes/s among them) shared by 16 writers, and the highest rate each held with no loss.
/// </summary>
internal sealed class CrossScenario : IScenario
{
    public string Name => "cross";

    public async Task<ScenarioResult> RunAsync(ScenarioContext context)
    {
        double[] rates = context.Quick ? [200] : [1_000, 2_500, 5_000, 10_000, 20_000];
        var rows = await CrossInstance.RunAsync(context, Name, rates, listenerCount: context.Quick ? 2 : 10, writerCount: context.Quick ? 2 : 16);
        rows.AddRange(CrossInstance.MaximumWithoutLoss(Name, rows));
        return new ScenarioResult(rows, [CrossInstance.LatencyChart("cross-latency.svg", "cross: cross-instance latency against offered rate", rows)]);
    }
}
