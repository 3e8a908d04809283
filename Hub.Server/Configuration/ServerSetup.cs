using CollabHub.Server.Backplane;
using CollabHub.Server.Hubs;
using CollabHub.Server.Ops;
using CollabHub.Server.Rooms;
using CollabHub.Server.Security;
using CollabHub.Server.Shutdown;
using CollabHub.Server.Status;
using CollabHub.Server.Store;
using CollabHub.Server.Telemetry;
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
        // Bound and validated once, here: what is registered below depends on it, and every part gets this instance.
        var settings = CollabHubOptionsValidator.Load(builder.Configuration.GetSection(CollabHubOptions.SectionName));
        services.AddSingleton(Options.Create(settings));
        services.TryAddSingleton(TimeProvider.System);

        services.AddCollabHubStore();

        // Rooms: presence (in memory, or across instances in Redis), broadcasting, the operations behind the hub.
        // Telemetry: metrics, traces, log format and scopes, the status page (Telemetry/, Status/).
        builder.AddCollabHubTelemetry(settings);
        services.AddCollabHubStatus();
        if (settings.UsesRedis)
        {
            services.AddSingleton<RedisPresenceTracker>();
            services.AddSingleton<IPresenceTracker>(sp => sp.GetRequiredService<RedisPresenceTracker>());
            // Stopped before PresenceDeltas, so that its last leave at shutdown is still sent; the Redis connection is
            // disposed by the container after every hosted part has stopped, so that leave still reaches Redis.
            services.AddHostedComponent<RedisPresenceTracker>(after: typeof(PresenceDeltas));
        }
        else
        {
            services.AddSingleton<IPresenceTracker, MemoryPresenceTracker>();
        }
        services.AddSingleton<RoomBroadcaster>();
        services.AddSingleton<ICommitObserver>(sp => sp.GetRequiredService<RoomBroadcaster>());
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<RoomService>();

        // Room access: roles in private rooms, cached per instance, changes announced on the cluster bus.
        services.AddSingleton<RoomAccessStore>();
        services.AddSingleton<RoomAccessService>();
        services.AddHostedComponent<RoomAccessService>();

        // Security: who is connecting (bearer tokens; ?name= in Development), CORS, the hub's user ids.
        services.AddCollabHubSecurity(settings, builder.Environment, HubPath);

        // Backplane: in-process, or Redis when configured, with ours or the stock lifetime manager (before AddSignalR,
        // which keeps the first lifetime manager).
        services.AddCollabHubBackplane(settings);
        services.AddSingleton<PresenceDeltas>();
        services.AddHostedComponent<PresenceDeltas>();

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
            hub.AddFilter<TelemetryHubFilter>();
            hub.AddFilter<ConnectionBindingFilter>();
            hub.AddFilter<ErrorMappingFilter>();
            // Before any other work of a call, so that a draining instance refuses it (inside the error mapping, which
            // turns the refusal into the call's error answer).
            hub.AddFilter<DrainFilter>();
            hub.AddFilter<RateLimitFilter>();
        });
        // Our JSON protocol in place of SignalR's (same wire format; unknown message types close the connection).
        services.Configure<JsonHubProtocolOptions>(json =>
        {
            json.PayloadSerializerOptions.Converters.Add(new PresenceEntryConverter());
            json.PayloadSerializerOptions.Converters.Add(new PresenceListConverter());
        });
        services.RemoveAll<IHubProtocol>();
        services.AddSingleton<IHubProtocol, StrictJsonHubProtocol>();

        services.AddCollabHubHealthChecks();
        // Last: wraps every logger provider registered above.
        services.RedactTokensInFrameworkLogs();
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
        app.MapCollabHubMetrics(settings.Telemetry);
        app.MapCollabHubStatus();
        return app;
    }
}
