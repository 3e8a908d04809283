using CollabHub.Server.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CollabHub.Server.Telemetry;

/// <summary>The public face of Telemetry/: metrics, traces and the shape of the logs.</summary>
internal static class TelemetrySetup
{
    public const string MetricsPath = "/metrics";

    /// <summary>ASP.NET Core's and the runtime's meters, exported beside ours.</summary>
    private static readonly string[] FrameworkMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Http.Connections",
        "System.Runtime",
    ];

    public static WebApplicationBuilder AddCollabHubTelemetry(this WebApplicationBuilder builder, CollabHubOptions settings)
    {
        var services = builder.Services;
        services.AddCollabHubMetrics();
        services.AddSingleton<ReadinessLog>();
        services.AddOperatorAccess(settings.Auth, builder.Environment);
        builder.AddCollabHubLogging(settings.Logging);

        var telemetry = settings.Telemetry;
        var prometheus = telemetry.PrometheusEnabled(builder.Environment);
        var otlp = telemetry.OtlpEndpoint.Length > 0;
        if (!prometheus && !otlp)
        {
            return builder;
        }
        var opentelemetry = services.AddOpenTelemetry().ConfigureResource(resource => resource.AddService("collabhub"));
        opentelemetry.WithMetrics(metrics =>
        {
            metrics.AddMeter(CollabHubMetrics.MeterName).AddMeter(FrameworkMeters);
            if (prometheus)
            {
                metrics.AddPrometheusExporter();
            }
            if (otlp)
            {
                metrics.AddOtlpExporter(exporter => Configure(exporter, telemetry));
            }
        });
        if (otlp)
        {
            opentelemetry.WithTracing(tracing => tracing.AddSource(CollabHubActivities.SourceName).AddOtlpExporter(exporter => Configure(exporter, telemetry)));
        }
        return builder;
    }

    /// <summary>The <c>CollabHub</c> meter's owner, for every part that records on it; safe to call more than once.</summary>
    public static IServiceCollection AddCollabHubMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<LocalRooms>();
        services.TryAddSingleton<CollabHubMetrics>();
        return services;
    }

    /// <summary><c>/metrics</c>, when enabled: on the configured port only, and behind the admin policy if asked.</summary>
    public static void MapCollabHubMetrics(this WebApplication app, TelemetryOptions telemetry)
    {
        if (!telemetry.PrometheusEnabled(app.Environment))
        {
            return;
        }
        var endpoint = app.MapPrometheusScrapingEndpoint(MetricsPath);
        if (telemetry.MetricsPort is { } port)
        {
            endpoint.RequireHost($"*:{port}");
        }
        if (telemetry.MetricsRequireAdmin)
        {
            endpoint.RequireAuthorization(OperatorAccess.PolicyName);
        }
    }

    private static void Configure(OtlpExporterOptions exporter, TelemetryOptions telemetry)
    {
        exporter.Endpoint = new Uri(telemetry.OtlpEndpoint);
        exporter.Protocol = telemetry.OtlpProtocol == OtlpTransport.HttpProtobuf ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
    }

    /// <summary>
    /// The console format (<c>CollabHub:Logging:Format</c>), with scopes (a hub call's connection, user and room);
    /// readiness logged once per change instead of the framework's Error per failing probe.
    /// </summary>
    private static void AddCollabHubLogging(this WebApplicationBuilder builder, LogFormatOptions logging)
    {
        var json = logging.Format == LogFormat.Json;
        builder.Logging.AddConsole(console => console.FormatterName = json ? ConsoleFormatterNames.Json : ConsoleFormatterNames.Simple);
        // The formatters' options directly: AddSimpleConsole and AddJsonConsole would each pick their formatter too.
        builder.Services.Configure<SimpleConsoleFormatterOptions>(format => format.IncludeScopes = true);
        builder.Services.Configure<JsonConsoleFormatterOptions>(format =>
        {
            format.IncludeScopes = true;
            format.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            format.UseUtcTimestamp = true;
        });
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.None);
    }
}
