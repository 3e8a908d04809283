using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CollabHub.Server.Telemetry;

/// <summary>
/// Logs readiness once per change of state: a check that turns unhealthy is a Warning (with its reason), its
/// recovery an Information, and a probe that finds nothing changed logs nothing. (The framework's own per-probe
/// Error, from <c>DefaultHealthCheckService</c>, is switched off in <see cref="TelemetrySetup"/>.)
/// </summary>
internal sealed partial class ReadinessLog(ILogger<ReadinessLog> logger)
{
    private readonly ConcurrentDictionary<string, HealthStatus> _last = new(StringComparer.Ordinal);

    /// <summary>The <c>/readyz</c> response writer: the overall status as text, as the default writer does, after logging changes.</summary>
    public Task WriteAsync(HttpContext context, HealthReport report)
    {
        foreach (var (name, entry) in report.Entries)
        {
            var previous = _last.GetValueOrDefault(name, HealthStatus.Healthy);
            if (previous == entry.Status || !_last.TryUpdate(name, entry.Status, previous) && !_last.TryAdd(name, entry.Status))
            {
                continue;
            }
            if (entry.Status == HealthStatus.Healthy)
            {
                LogRecovered(name);
            }
            else
            {
                LogNotReady(entry.Exception, name, entry.Status, entry.Description ?? "");
            }
        }
        context.Response.ContentType = "text/plain";
        return context.Response.WriteAsync(report.Status.ToString());
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "Readiness: {Check} is {Status}: {Reason}. /readyz answers 503 until it recovers (logged once)")]
    private partial void LogNotReady(Exception? exception, string check, HealthStatus status, string reason);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Information, Message = "Readiness: {Check} is healthy again")]
    private partial void LogRecovered(string check);
}
