namespace CollabHub.Bench.Systems;

/// <summary>
/// Starts the systems under test for the scenarios. In a full run every request gets a fresh deployment (so memory and
/// CPU start from a clean process); with <c>--quick</c>, whose point is that everything still works, one deployment per
/// system and instance count is kept for the whole run, since starting servers is most of a quick run's time.
/// </summary>
internal sealed class DeploymentPool(BenchEnvironment environment, bool reuse) : IAsyncDisposable
{
    private readonly Dictionary<(SystemSpec, int), Deployment> _running = [];

    public async Task<Deployment> AcquireAsync(SystemSpec system, int instances)
    {
        if (reuse && _running.TryGetValue((system, instances), out var running))
        {
            return running;
        }
        var deployment = await Deployment.StartAsync(system, instances, environment);
        if (reuse)
        {
            deployment.KeepRunning = true;
            _running[(system, instances)] = deployment;
        }
        return deployment;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var deployment in _running.Values)
        {
            await deployment.StopAsync();
        }
        _running.Clear();
    }
}
