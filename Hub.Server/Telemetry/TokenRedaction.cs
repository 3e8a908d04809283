using System.Text.RegularExpressions;

namespace CollabHub.Server.Telemetry;

/// <summary>
/// Keeps access tokens out of the logs. Browsers send the hub's token in the query string (<c>access_token=</c>) for
/// WebSockets and Server-Sent Events, and ASP.NET Core's own request logs (<c>Microsoft.AspNetCore.Hosting.Diagnostics</c>,
/// Information) write the query string. Every provider is wrapped so that the loggers of framework categories
/// (<c>Microsoft.*</c>, <c>System.*</c>) replace the token's value with <c>[redacted]</c>, in the message and in the
/// structured values alike; the server's own categories never log a token and are not wrapped.
/// </summary>
internal static partial class TokenRedaction
{
    private const string Marker = "access_token=";

    /// <summary>Wraps every logger provider registered so far; call once every provider is added.</summary>
    public static void RedactTokensInFrameworkLogs(this IServiceCollection services)
    {
        for (var i = 0; i < services.Count; i++)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType == typeof(ILoggerProvider) && !descriptor.IsKeyedService)
            {
                services[i] = ServiceDescriptor.Singleton<ILoggerProvider>(sp => new RedactingLoggerProvider(Create(sp, descriptor)));
            }
        }
    }

    public static string Redact(string text) =>
        text.Contains(Marker, StringComparison.OrdinalIgnoreCase) ? TokenValue().Replace(text, "${name}[redacted]") : text;

    private static ILoggerProvider Create(IServiceProvider services, ServiceDescriptor descriptor) =>
        (ILoggerProvider)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));

    [GeneratedRegex(@"(?<name>access_token=)[^&\s""']*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TokenValue();

    private sealed class RedactingLoggerProvider(ILoggerProvider inner) : ILoggerProvider, ISupportExternalScope
    {
        public ILogger CreateLogger(string categoryName)
        {
            var logger = inner.CreateLogger(categoryName);
            return categoryName.StartsWith("Microsoft.", StringComparison.Ordinal) || categoryName.StartsWith("System.", StringComparison.Ordinal)
                ? new RedactingLogger(logger)
                : logger;
        }

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => (inner as ISupportExternalScope)?.SetScopeProvider(scopeProvider);

        public void Dispose() => inner.Dispose();
    }

    private sealed class RedactingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!inner.IsEnabled(logLevel))
            {
                return;
            }
            var message = formatter(state, exception);
            if (!message.Contains(Marker, StringComparison.OrdinalIgnoreCase) && !HasToken(state))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }
            IReadOnlyList<KeyValuePair<string, object?>> values = state is IReadOnlyList<KeyValuePair<string, object?>> structured
                ? [.. structured.Select(value => value.Value is string text ? new KeyValuePair<string, object?>(value.Key, Redact(text)) : value)]
                : [];
            inner.Log(logLevel, eventId, new RedactedState(Redact(message), values), exception, static (state, _) => state.Message);
        }

        private static bool HasToken<TState>(TState state) =>
            state is IReadOnlyList<KeyValuePair<string, object?>> values
            && values.Any(value => value.Value is string text && text.Contains(Marker, StringComparison.OrdinalIgnoreCase));
    }

    private sealed class RedactedState(string message, IReadOnlyList<KeyValuePair<string, object?>> values) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string Message { get; } = message;

        public int Count => values.Count;

        public KeyValuePair<string, object?> this[int index] => values[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => values.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => Message;
    }
}
