using CollabHub.Server.Backplane;
using CollabHub.Server.Hubs;
using CollabHub.Server.Ops;
using CollabHub.Server.Rooms;
using CollabHub.Server.Security;
using CollabHub.Server.Shutdown;
using CollabHub.Server.Store;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Configuration;

/// <summary>Wires the server together: one place that lists every service and every endpoint.</summary>
internal static class ServerSetup
{
    public const string HubPath = "/hubs/collab";

    public static WebApplicationBuilder AddCollabHub(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<CollabHubOptions>().Bind(builder.Configuration.GetSection(CollabHubOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CollabHubOptions>, CollabHubOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);

        services.AddCollabHubStore();

        // Rooms: presence (in memory, or across instances in Redis), broadcasting, the operations behind the hub.
        var settings = builder.Configuration.GetSection(CollabHubOptions.SectionName).Get<CollabHubOptions>() ?? new CollabHubOptions();
        if (string.IsNullOrWhiteSpace(settings.Redis))
        {
            services.AddSingleton<IPresenceTracker, MemoryPresenceTracker>();
        }
        else
        {
            services.AddSingleton<RedisPresenceTracker>();
            services.AddSingleton<IPresenceTracker>(sp => sp.GetRequiredService<RedisPresenceTracker>());
        }
        services.AddSingleton<RoomBroadcaster>();
        services.AddSingleton<ICommitObserver>(sp => sp.GetRequiredService<RoomBroadcaster>());
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<RoomService>();

        // Room access: roles in private rooms, cached per instance, changes announced on the cluster bus.
        services.AddSingleton<RoomAccessStore>();
        services.AddSingleton<RoomAccessService>();
        services.AddHostedService(sp => sp.GetRequiredService<RoomAccessService>());

        // Security: who is connecting (bearer tokens; ?name= in Development), CORS, the hub's user ids.
        services.AddCollabHubSecurity(settings, builder.Environment, HubPath);

        // Backplane: in-process, or Redis when configured, with ours or the stock lifetime manager (before AddSignalR,
        // which keeps the first lifetime manager).
        services.AddCollabHubBackplane(settings);
        // Presence deltas after the backplane and before the tracker (hosted services start in order and stop in
        // reverse): the tracker's last leave at shutdown is still sent, and through a backplane still running.
        services.AddSingleton<PresenceDeltas>();
        services.AddHostedService(sp => sp.GetRequiredService<PresenceDeltas>());
        if (!string.IsNullOrWhiteSpace(settings.Redis))
        {
            // Hosted services stop before the container disposes the Redis connection: the last leave at shutdown
            // still reaches Redis.
            services.AddHostedService(sp => sp.GetRequiredService<RedisPresenceTracker>());
        }

        // Hubs: the contract, with SignalR's message size matched to the largest payload we accept.
        var limits = settings.Limits;
        services.AddSingleton<RequestValidator>();
        services.AddSingleton<RateLimitFilter>();
        services.AddCollabHubShutdown(settings.Shutdown);
        services.AddSignalR(hub =>
        {
            hub.MaximumReceiveMessageSize = limits.MaxHubMessageBytes;
            hub.HandshakeTimeout = settings.Hub.HandshakeTimeout;
            hub.KeepAliveInterval = settings.Hub.KeepAliveInterval;
            hub.ClientTimeoutInterval = settings.Hub.ClientTimeoutInterval;
            // Writes are queued for commit before their first await (RoomsHub), so parallel calls keep send order.
            hub.MaximumParallelInvocationsPerClient = settings.Hub.MaxParallelInvocationsPerClient;
            // First, so that a draining instance refuses calls before anything else runs.
            hub.AddFilter<DrainFilter>();
            hub.AddFilter<ConnectionBindingFilter>();
            hub.AddFilter<ErrorMappingFilter>();
            hub.AddFilter<RateLimitFilter>();
        });
        // Our JSON protocol in place of SignalR's (same wire format; unknown message types close the connection).
        services.RemoveAll<IHubProtocol>();
        services.AddSingleton<IHubProtocol, StrictJsonHubProtocol>();

        services.AddCollabHubHealthChecks();
        return builder;
    }

    public static async Task<WebApplication> UseCollabHubAsync(this WebApplication app)
    {
        await app.Services.GetRequiredService<SchemaMigrator>().MigrateAsync(app.Lifetime.ApplicationStopping);

        app.UseCollabHubSecurityHeaders();
        app.UseCollabHubDrain(HubPath);
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseCollabHubAuthentication(HubPath);
        // Stateful reconnect (clients that negotiate and opt in, e.g. the JS SDK): a blip of a few seconds on one
        // instance loses nothing, signals included; SignalR buffers up to HubOptions.StatefulReconnectBufferSize.
        // A connection whose token expires is closed (CollabHub:Auth:CloseOnTokenExpiry); the client reconnects with a fresh one.
        var settings = app.Services.GetRequiredService<IOptions<CollabHubOptions>>().Value;
        var closeOnTokenExpiry = settings.Auth.CloseOnTokenExpiry;
        app.MapHub<RoomsHub>(HubPath, endpoint =>
        {
            // How much each connection's pipes may hold before backpressure (docs/operations.md: chosen by measurement).
            endpoint.ApplicationMaxBufferSize = settings.Hub.ApplicationMaxBufferSize;
            endpoint.TransportMaxBufferSize = settings.Hub.TransportMaxBufferSize;
            endpoint.AllowStatefulReconnects = true;
            // Version 0 makes the connection id the token, and ids are not secrets: every client speaks version 1.
            endpoint.MinimumProtocolVersion = 1;
            endpoint.CloseOnAuthenticationExpiration = closeOnTokenExpiry;
        }).RequireAuthorization().RequireCors(CorsSetup.PolicyName);
        app.MapCollabHubAuthEndpoints();
        app.MapCollabHubHealthChecks();
        return app;
    }
}
