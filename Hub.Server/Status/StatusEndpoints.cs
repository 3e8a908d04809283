using CollabHub.Server.Configuration;
using CollabHub.Server.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CollabHub.Server.Status;

/// <summary>
/// The operator's status page: <c>/status/</c> is a static page (wwwroot/status/, no data in it, under the board's
/// CSP) that draws what <c>GET /status/data</c> answers; the data needs the admin policy (open in Development).
/// </summary>
internal static class StatusEndpoints
{
    public const string DataPath = "/status/data";
    public const int BusiestRooms = 10;

    public static IServiceCollection AddCollabHubStatus(this IServiceCollection services)
    {
        services.AddSingleton<StatusSampler>();
        services.AddHostedComponent<StatusSampler>();
        services.AddSingleton<ClusterStatus>();
        services.AddHostedComponent<ClusterStatus>();
        services.AddSingleton<RecentWarnings>();
        services.AddSingleton<ILoggerProvider>(sp => sp.GetRequiredService<RecentWarnings>());
        return services;
    }

    public static void MapCollabHubStatus(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(DataPath, async (ClusterStatus cluster, StatusSampler sampler, CollabHubMetrics metrics, RecentWarnings warnings,
            HealthCheckService health, HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            var report = await health.CheckHealthAsync(context.RequestAborted);
            return new StatusData(
                cluster.InstanceId,
                await cluster.InstancesAsync(),
                sampler.Samples(),
                StatusSampler.Interval.TotalSeconds,
                [.. metrics.Rooms.Busiest(BusiestRooms).Select(room => new RoomStatus(room.Key, room.Value))],
                [.. report.Entries.Select(entry => new CheckStatus(entry.Key, entry.Value.Status.ToString(), entry.Value.Description))],
                warnings.Entries());
        }).RequireAuthorization(OperatorAccess.PolicyName);
    }
}

/// <summary>What <c>/status/data</c> answers (camelCase JSON); docs/operations.md describes each field.</summary>
internal sealed record StatusData(
    string Instance,
    IReadOnlyList<InstanceStatus> Instances,
    IReadOnlyList<RateSample> Rates,
    double SampleSeconds,
    IReadOnlyList<RoomStatus> BusiestRooms,
    IReadOnlyList<CheckStatus> Health,
    IReadOnlyList<LoggedWarning> Warnings);

internal sealed record RoomStatus(string RoomId, int Connections);

internal sealed record CheckStatus(string Name, string Status, string? Description);
