using System.Diagnostics.Metrics;
using CollabHub.Server.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace CollabHub.Tests.Telemetry;

/// <summary>The server's metrics for parts built by hand in unit tests, on a meter factory of their own.</summary>
internal static class TestMetrics
{
    public static CollabHubMetrics Create()
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        return new CollabHubMetrics(services.GetRequiredService<IMeterFactory>(), new LocalRooms(), services);
    }
}
