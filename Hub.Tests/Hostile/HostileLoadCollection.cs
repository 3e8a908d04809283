namespace CollabHub.Tests.Hostile;

/// <summary>
/// The hostile load tests (thousands of events across a cluster; a flood beside a latency probe) run alone, after
/// the parallel tests, so that their timings mean something on a small machine and their time limits hold.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HostileLoadCollection
{
    public const string Name = "Hostile load";
}
