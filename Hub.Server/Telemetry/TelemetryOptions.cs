using System.ComponentModel.DataAnnotations;

namespace CollabHub.Server.Telemetry;

/// <summary>Metrics and traces (<c>CollabHub:Telemetry:*</c>), exported through OpenTelemetry.</summary>
public sealed class TelemetryOptions : IValidatableObject
{
    /// <summary>Whether <c>/metrics</c> serves the Prometheus text format. Default (unset): true in Development, false elsewhere.</summary>
    public bool? Prometheus { get; set; }

    /// <summary>
    /// The port <c>/metrics</c> answers on (the server must listen on it too, e.g.
    /// <c>--urls "http://0.0.0.0:5000;http://127.0.0.1:9464"</c>); on other ports it is 404. Default (unset): any port.
    /// </summary>
    [Range(1, 65535)]
    public int? MetricsPort { get; set; }

    /// <summary>Whether <c>/metrics</c> requires the admin policy (<c>CollabHub:Auth:AdminRole</c>). Default false.</summary>
    public bool MetricsRequireAdmin { get; set; }

    /// <summary>
    /// An OTLP collector (e.g. <c>http://otel-collector:4317</c>, gRPC; or with <see cref="OtlpProtocol"/> <c>HttpProtobuf</c>,
    /// <c>http://otel-collector:4318</c>) that receives the metrics and traces. Default empty: no export.
    /// </summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary>The OTLP transport: <c>Grpc</c> (the default) or <c>HttpProtobuf</c>.</summary>
    public OtlpTransport OtlpProtocol { get; set; } = OtlpTransport.Grpc;

    /// <summary>The effective <see cref="Prometheus"/>.</summary>
    public bool PrometheusEnabled(IHostEnvironment environment) => Prometheus ?? environment.IsDevelopment();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (OtlpEndpoint.Length > 0 && (!Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult(
                $"CollabHub:Telemetry:OtlpEndpoint '{OtlpEndpoint}' is not an http(s) URL such as http://otel-collector:4317.", [nameof(OtlpEndpoint)]);
        }
    }
}

public enum OtlpTransport
{
    Grpc,
    HttpProtobuf,
}

/// <summary>How the server writes its logs (<c>CollabHub:Logging:*</c>); levels stay under the standard <c>Logging:LogLevel</c>.</summary>
public sealed class LogFormatOptions
{
    /// <summary><c>Text</c> (the default; ASP.NET Core's simple console format) or <c>Json</c> (one JSON object per line).</summary>
    public LogFormat Format { get; set; } = LogFormat.Text;
}

public enum LogFormat
{
    Text,
    Json,
}
