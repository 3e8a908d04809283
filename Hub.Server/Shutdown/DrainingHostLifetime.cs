using System.Runtime.InteropServices;

namespace CollabHub.Server.Shutdown;

/// <summary>
/// The host's lifetime in place of the console one: SIGTERM (or Ctrl+C, SIGQUIT) first drains the instance
/// (<see cref="ConnectionDrain"/>), then stops the host. The console lifetime stops the host at once, and stopping
/// closes SignalR's connections without a word to the clients and without answering the calls they have in flight.
/// A second signal stops at once.
/// </summary>
internal sealed partial class DrainingHostLifetime(IHostApplicationLifetime lifetime, ConnectionDrain drain, ILogger<DrainingHostLifetime> logger)
    : IHostLifetime, IDisposable
{
    private readonly List<PosixSignalRegistration> _signals = [];
    private int _signalled;

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
        _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
        if (!OperatingSystem.IsWindows())
        {
            _signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal));
        }
        lifetime.ApplicationStarted.Register(() => Log.Started(logger));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var signal in _signals)
        {
            signal.Dispose();
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        // The process does not end here: the host stops (and Main returns) once the drain is over.
        context.Cancel = true;
        if (Interlocked.Increment(ref _signalled) == 1)
        {
            Log.Signalled(logger, context.Signal);
            _ = DrainThenStopAsync();
        }
        else
        {
            lifetime.StopApplication();
        }
    }

    private async Task DrainThenStopAsync()
    {
        try
        {
            await drain.RunAsync();
        }
        catch (Exception ex)
        {
            Log.DrainFailed(logger, ex);
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7603, Level = LogLevel.Information, Message = "Application started. Press Ctrl+C to shut down.")]
        public static partial void Started(ILogger logger);

        [LoggerMessage(EventId = 7604, Level = LogLevel.Information, Message = "{Signal} received: draining, then shutting down (a second signal stops at once)")]
        public static partial void Signalled(ILogger logger, PosixSignal signal);

        [LoggerMessage(EventId = 7605, Level = LogLevel.Error, Message = "The drain failed; shutting down without it")]
        public static partial void DrainFailed(ILogger logger, Exception exception);
    }
}
