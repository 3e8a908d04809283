using System.Diagnostics;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Convergence;

internal enum FaultKind
{
    /// <summary>Every proxy blocks new connections, then cuts the open ones; unblocked after the hold.</summary>
    CutAllAndBlock,

    /// <summary>One proxy blocks new connections and cuts the open ones; unblocked after the hold.</summary>
    CutOneAndBlock,

    /// <summary>Every proxy holds the servers' bytes back (requests arrive, answers do not), then cuts: writes applied without an answer are sent again.</summary>
    LostAnswers,

    /// <summary>One proxy cuts its connections; the clients reconnect at once.</summary>
    CutOne,

    /// <summary>Every proxy cuts its connections; the clients reconnect at once.</summary>
    CutAll,

    /// <summary>One instance is killed (SIGKILL) and started again on the same port after the hold.</summary>
    KillInstance,

    /// <summary>Redis is killed and started again on the same port after the hold.</summary>
    RestartRedis,

    /// <summary>Redis is killed, then an instance is killed and restarted without Redis, then Redis comes back.</summary>
    KillInstanceDuringRedisOutage,
}

/// <summary>One planned fault: what, where, how long it lasts, and the quiet time before it.</summary>
internal sealed record Fault(FaultKind Kind, int Target, TimeSpan Hold, ProxyBlockMode BlockMode, TimeSpan GapBefore, bool Optional = false)
{
    public override string ToString() => Kind switch
    {
        FaultKind.CutAllAndBlock => $"cut all proxies and block them ({BlockMode}) for {Hold.TotalSeconds:0.0} s",
        FaultKind.CutOneAndBlock => $"cut proxy {Target} and block it ({BlockMode}) for {Hold.TotalSeconds:0.0} s",
        FaultKind.LostAnswers => $"hold every answer for {Hold.TotalSeconds:0.0} s, then cut all proxies",
        FaultKind.CutOne => $"cut proxy {Target}",
        FaultKind.CutAll => "cut all proxies",
        FaultKind.KillInstance => $"SIGKILL instance {Target}, restart it after {Hold.TotalSeconds:0.0} s",
        FaultKind.RestartRedis => $"SIGKILL redis, restart it after {Hold.TotalSeconds:0.0} s",
        FaultKind.KillInstanceDuringRedisOutage => $"SIGKILL redis, SIGKILL instance {Target} and restart it without redis, redis back after {Hold.TotalSeconds:0.0} s",
        _ => Kind.ToString(),
    } + $" (after {GapBefore.TotalSeconds:0.0} s quiet{(Optional ? "; extra" : "")})";

    /// <summary>A rough length, for planning: the hold, the quiet before, and a server's start-up.</summary>
    public TimeSpan Estimate => GapBefore + Hold + Kind switch
    {
        FaultKind.KillInstance or FaultKind.KillInstanceDuringRedisOutage => TimeSpan.FromSeconds(2.5),
        _ => TimeSpan.FromSeconds(0.2),
    };
}

/// <summary>
/// The seeded fault schedule: every kind of fault at least once (SIGKILLs of two different instances, one of them while
/// Redis is down; two Redis restarts), then extras up to the budget, all shuffled. Extras are skipped when the schedule
/// runs late (a loaded machine starts servers slowly), so the test stays within its time.
/// </summary>
internal static class FaultPlan
{
    public static List<Fault> Make(Random rng, int instances, TimeSpan budget)
    {
        TimeSpan Seconds(double min, double max) => TimeSpan.FromSeconds(Math.Round(min + rng.NextDouble() * (max - min), 1));
        ProxyBlockMode Mode() => rng.Next(3) == 0 ? ProxyBlockMode.Hold : ProxyBlockMode.Refuse;
        Fault Make(FaultKind kind, int? target = null) => kind switch
        {
            FaultKind.CutAllAndBlock => new(kind, -1, Seconds(1.5, 3.5), Mode(), Seconds(0.8, 2.0)),
            FaultKind.CutOneAndBlock => new(kind, target ?? rng.Next(instances), Seconds(1.0, 3.0), Mode(), Seconds(0.8, 2.0)),
            FaultKind.LostAnswers => new(kind, -1, Seconds(0.4, 1.2), ProxyBlockMode.Refuse, Seconds(0.8, 2.0)),
            FaultKind.CutOne => new(kind, target ?? rng.Next(instances), TimeSpan.Zero, ProxyBlockMode.Refuse, Seconds(0.6, 1.5)),
            FaultKind.CutAll => new(kind, -1, TimeSpan.Zero, ProxyBlockMode.Refuse, Seconds(0.6, 1.5)),
            FaultKind.KillInstance => new(kind, target ?? rng.Next(instances), Seconds(0.3, 2.0), ProxyBlockMode.Refuse, Seconds(0.8, 2.0)),
            FaultKind.RestartRedis => new(kind, -1, Seconds(0.3, 2.5), ProxyBlockMode.Refuse, Seconds(0.8, 2.0)),
            FaultKind.KillInstanceDuringRedisOutage => new(kind, target ?? rng.Next(instances), Seconds(1.0, 2.5), ProxyBlockMode.Refuse, Seconds(0.8, 2.0)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        var firstKill = rng.Next(instances);
        var secondKill = (firstKill + 1 + rng.Next(instances - 1)) % instances;
        var plan = new List<Fault>
        {
            Make(FaultKind.CutAllAndBlock),
            Make(FaultKind.CutOneAndBlock),
            Make(FaultKind.LostAnswers),
            Make(FaultKind.CutAll),
            Make(FaultKind.KillInstance, firstKill),
            Make(FaultKind.RestartRedis),
            Make(FaultKind.KillInstanceDuringRedisOutage, secondKill),
        };
        var extras = new[] { FaultKind.CutAllAndBlock, FaultKind.CutOneAndBlock, FaultKind.LostAnswers, FaultKind.CutOne, FaultKind.CutAll, FaultKind.KillInstance, FaultKind.RestartRedis };
        while (true)
        {
            var extra = Make(extras[rng.Next(extras.Length)]) with { Optional = true };
            if (plan.Sum(f => f.Estimate.TotalSeconds) + extra.Estimate.TotalSeconds > budget.TotalSeconds)
            {
                break;
            }
            plan.Add(extra);
        }
        // Fisher-Yates, seeded.
        for (var i = plan.Count - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (plan[i], plan[j]) = (plan[j], plan[i]);
        }
        return plan;
    }
}

/// <summary>Runs a fault plan against the cluster, one fault at a time, always putting things back (unblocked, running) after each.</summary>
internal sealed class FaultRunner(
    IReadOnlyList<HubServerProcess> servers,
    IReadOnlyList<TcpProxy> proxies,
    RedisServerProcess redis,
    Stopwatch clock,
    Action<string> log)
{
    public int Cuts { get; private set; }
    public int Blocks { get; private set; }
    public int Kills { get; private set; }
    public int RedisRestarts { get; private set; }
    public int LostAnswerRounds { get; private set; }

    public int Skipped { get; private set; }

    /// <summary>Runs the plan; extras are skipped once <paramref name="lateAfter"/> (on the clock) has passed.</summary>
    public async Task RunAsync(IReadOnlyList<Fault> plan, TimeSpan lateAfter, CancellationToken cancellationToken)
    {
        foreach (var fault in plan)
        {
            if (fault.Optional && clock.Elapsed > lateAfter)
            {
                Skipped++;
                Log($"skipped (running late): {fault}");
                continue;
            }
            await Task.Delay(fault.GapBefore, cancellationToken);
            Log($"fault: {fault}");
            await RunAsync(fault);
        }
    }

    private void Log(string text) => log($"[{clock.Elapsed.TotalSeconds,6:0.0}s {DateTime.Now:HH:mm:ss.fff}] {text}");

    private async Task RunAsync(Fault fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.CutAllAndBlock:
                await BlockAndCutAsync(proxies, fault);
                break;
            case FaultKind.CutOneAndBlock:
                await BlockAndCutAsync([proxies[fault.Target]], fault);
                break;
            case FaultKind.LostAnswers:
                try
                {
                    foreach (var proxy in proxies)
                    {
                        proxy.HoldDownstream();
                    }
                    await Task.Delay(fault.Hold);
                    await CutAsync(proxies);
                }
                finally
                {
                    foreach (var proxy in proxies)
                    {
                        proxy.ReleaseDownstream();
                    }
                }
                LostAnswerRounds++;
                break;
            case FaultKind.CutOne:
                await CutAsync([proxies[fault.Target]]);
                break;
            case FaultKind.CutAll:
                await CutAsync(proxies);
                break;
            case FaultKind.KillInstance:
                await KillAndRestartAsync(fault.Target, fault.Hold);
                break;
            case FaultKind.RestartRedis:
                redis.Kill();
                RedisRestarts++;
                Log("  redis killed");
                try
                {
                    await Task.Delay(fault.Hold);
                }
                finally
                {
                    await redis.RestartAsync().WaitAsync(TimeSpan.FromSeconds(30));
                    Log("  redis restarted");
                }
                break;
            case FaultKind.KillInstanceDuringRedisOutage:
                redis.Kill();
                RedisRestarts++;
                Log("  redis killed");
                try
                {
                    await KillAndRestartAsync(fault.Target, TimeSpan.FromSeconds(0.5));
                    await Task.Delay(fault.Hold);
                }
                finally
                {
                    await redis.RestartAsync().WaitAsync(TimeSpan.FromSeconds(30));
                    Log("  redis restarted");
                }
                break;
        }
    }

    private async Task BlockAndCutAsync(IReadOnlyList<TcpProxy> targets, Fault fault)
    {
        try
        {
            foreach (var proxy in targets)
            {
                proxy.Block(fault.BlockMode);
                Blocks++;
            }
            await CutAsync(targets);
            await Task.Delay(fault.Hold);
        }
        finally
        {
            foreach (var proxy in targets)
            {
                proxy.Unblock();
            }
            Log("  unblocked");
        }
    }

    private async Task CutAsync(IReadOnlyList<TcpProxy> targets)
    {
        var open = targets.Sum(p => p.Open);
        await Task.WhenAll(targets.Select(p => p.CutAllAsync())).WaitAsync(TimeSpan.FromSeconds(10));
        Cuts += targets.Count;
        Log($"  cut {open} open connection(s)");
    }

    private async Task KillAndRestartAsync(int instance, TimeSpan down)
    {
        var server = servers[instance];
        var pid = server.ProcessId;
        server.Kill();
        Kills++;
        Log($"  instance {instance} (pid {pid}) killed");
        try
        {
            await Task.Delay(down);
        }
        finally
        {
            var started = Stopwatch.StartNew();
            var before = server.Output.Length;
            await server.RestartAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Log($"  instance {instance} restarted on {server.BaseUrl} (pid {server.ProcessId}, {started.Elapsed.TotalSeconds:0.0} s to listen)");
            if (started.Elapsed > TimeSpan.FromSeconds(5))
            {
                // A slow start: show what the server said meanwhile.
                var said = server.Output;
                Log("    " + said[Math.Min(before, said.Length)..].Trim().Replace("\n", "\n    ", StringComparison.Ordinal));
            }
        }
    }
}
