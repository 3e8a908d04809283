using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CollabHub.Server.Configuration;

/// <summary>One hosted part of the server, and the hosted parts that must be running while it starts, runs and stops.</summary>
internal sealed record HostedComponent(Type Service, IReadOnlyList<Type> After);

/// <summary>
/// Starts the server's hosted parts so that each starts after the parts it names in <see cref="HostedComponent.After"/>
/// and stops before them, whatever the order of their registration lines; parts with no order between them keep
/// their registration order. A named part that is not registered (the Redis tracker without Redis) is no constraint.
/// </summary>
internal sealed partial class HostedComponents(IEnumerable<HostedComponent> components, IServiceProvider services, ILogger<HostedComponents> logger)
    : IHostedService
{
    private readonly List<IHostedService> _started = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var component in Order([.. components]))
        {
            var service = (IHostedService)services.GetRequiredService(component.Service);
            await service.StartAsync(cancellationToken);
            _started.Add(service);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        List<Exception> failures = [];
        for (var i = _started.Count - 1; i >= 0; i--)
        {
            try
            {
                await _started[i].StopAsync(cancellationToken);
            }
            catch (Exception ex)
            {
                // The parts it depends on still stop.
                LogStopFailed(ex, _started[i].GetType().Name);
                failures.Add(ex);
            }
        }
        _started.Clear();
        if (failures.Count > 0)
        {
            throw new AggregateException("Hosted parts of the server failed to stop.", failures);
        }
    }

    /// <summary>A topological order of <paramref name="all"/>: each after what it names; ties in registration order.</summary>
    internal static IReadOnlyList<HostedComponent> Order(IReadOnlyList<HostedComponent> all)
    {
        var registered = all.Select(c => c.Service).ToHashSet();
        var ordered = new List<HostedComponent>(all.Count);
        var placed = new HashSet<Type>();
        while (ordered.Count < all.Count)
        {
            var next = all.FirstOrDefault(c => !placed.Contains(c.Service) && c.After.All(d => placed.Contains(d) || !registered.Contains(d)))
                ?? throw new InvalidOperationException(
                    "The hosted parts of the server wait for each other in a cycle: " +
                    string.Join(", ", all.Where(c => !placed.Contains(c.Service)).Select(c => c.Service.Name)));
            ordered.Add(next);
            placed.Add(next.Service);
        }
        return ordered;
    }

    [LoggerMessage(EventId = 9201, Level = LogLevel.Error, Message = "Stopping {Service} failed")]
    private partial void LogStopFailed(Exception exception, string service);
}

internal static class HostedComponentsServiceCollectionExtensions
{
    /// <summary>
    /// Runs the singleton <typeparamref name="T"/> (registered separately) as a hosted part of the server, started after
    /// the parts in <paramref name="after"/> and stopped before them (<see cref="HostedComponents"/>).
    /// </summary>
    public static IServiceCollection AddHostedComponent<T>(this IServiceCollection services, params Type[] after) where T : class, IHostedService
    {
        services.AddSingleton(new HostedComponent(typeof(T), after));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, HostedComponents>());
        return services;
    }
}
