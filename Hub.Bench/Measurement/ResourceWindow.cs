using System.Diagnostics;
using CollabHub.Bench.Processes;

namespace CollabHub.Bench.Measurement;

/// <summary>
/// What one measured run cost: CPU seconds of the system's processes, their peak resident memory (sampled every
/// 100 ms), and the driver's own CPU as a share of one core, so a saturated driver shows in the table.
/// </summary>
internal sealed class ResourceWindow : IAsyncDisposable
{
    private readonly ProcessMeter _meter;
    private readonly double _serverCpuAtStart;
    private readonly TimeSpan _driverCpuAtStart;
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private long _peakBytes;

    private ResourceWindow(ProcessMeter meter)
    {
        _meter = meter;
        _serverCpuAtStart = meter.CpuSeconds();
        _driverCpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
        _peakBytes = meter.ResidentBytes();
        _sampler = SampleAsync();
    }

    public static ResourceWindow Start(ProcessMeter meter) => new(meter);

    private async Task SampleAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                _peakBytes = Math.Max(_peakBytes, _meter.ResidentBytes());
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Ends the window and returns its figures.</summary>
    public async Task<Resources> StopAsync()
    {
        _wall.Stop();
        await _stop.CancelAsync();
        await _sampler;
        _peakBytes = Math.Max(_peakBytes, _meter.ResidentBytes());
        var driverCpu = (Process.GetCurrentProcess().TotalProcessorTime - _driverCpuAtStart).TotalSeconds;
        return new Resources(
            _meter.CpuSeconds() - _serverCpuAtStart,
            _peakBytes / (1024.0 * 1024.0),
            _wall.Elapsed.TotalSeconds > 0 ? 100 * driverCpu / _wall.Elapsed.TotalSeconds : 0);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
            await _sampler;
        }
        _stop.Dispose();
    }
}

/// <param name="ServerCpuSeconds">CPU seconds of every process of the system under test.</param>
/// <param name="PeakMemoryMb">Their peak resident memory, summed.</param>
/// <param name="DriverCpuPercent">The bench's own CPU over the window: 100 = one core busy (the machine's maximum is 100 × cores).</param>
internal readonly record struct Resources(double ServerCpuSeconds, double PeakMemoryMb, double DriverCpuPercent);
