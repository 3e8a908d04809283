using System.Diagnostics;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Shutdown;

/// <summary>
/// The drain, in order: refuse new connections and calls (<see cref="DrainState.Begin"/>; /readyz turns 503), let the
/// calls already received finish and be answered, close every connection with a reconnect-now close message, and wait
/// for them to end, all within <see cref="ShutdownOptions.DrainPhaseTimeout"/>.
/// </summary>
internal sealed partial class ConnectionDrain(DrainState state, IOptions<CollabHubOptions> options, ILogger<ConnectionDrain> logger)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// SignalR writes a call's answer after the hub filters return, so a call counted as finished may still be waiting
    /// for its connection's output (behind a Changed event being written, say); the close message must not overtake it.
    /// </summary>
    private static readonly TimeSpan AnswerGrace = TimeSpan.FromMilliseconds(100);

    public async Task RunAsync()
    {
        if (!state.Begin())
        {
            return;
        }
        var limit = options.Value.Shutdown.DrainPhaseTimeout;
        var clock = Stopwatch.StartNew();
        Log.Started(logger, state.Calls, state.Connections, options.Value.Shutdown.DrainTimeout);
        await WaitUntilAsync(() => state.Calls == 0, limit - clock.Elapsed);
        var unanswered = state.Calls;
        if (unanswered == 0 && limit - clock.Elapsed > AnswerGrace)
        {
            await Task.Delay(AnswerGrace);
        }
        state.CloseAll();
        await WaitUntilAsync(() => state.Connections == 0, limit - clock.Elapsed);
        Log.Ended(logger, clock.Elapsed.TotalMilliseconds, unanswered, state.Connections);
    }

    private static async Task WaitUntilAsync(Func<bool> done, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (!done() && clock.Elapsed < within)
        {
            await Task.Delay(PollInterval);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7601, Level = LogLevel.Information,
            Message = "Draining: refusing new connections and calls; {Calls} calls running, {Connections} connections to close (all within {DrainTimeout})")]
        public static partial void Started(ILogger logger, int calls, int connections, TimeSpan drainTimeout);

        [LoggerMessage(EventId = 7602, Level = LogLevel.Information,
            Message = "Drained in {ElapsedMs:0} ms: {UnansweredCalls} calls were still running at the close, {Connections} connections still open; stopping")]
        public static partial void Ended(ILogger logger, double elapsedMs, int unansweredCalls, int connections);
    }
}
