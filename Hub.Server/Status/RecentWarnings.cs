namespace CollabHub.Server.Status;

/// <summary>
/// A logger provider that keeps the last <see cref="Capacity"/> warnings and errors of the whole server, for the
/// status page. Only the formatted message and the exception's type are kept (log messages never carry tokens).
/// </summary>
internal sealed class RecentWarnings : ILoggerProvider
{
    public const int Capacity = 20;

    private readonly Queue<LoggedWarning> _entries = new(Capacity);
    private readonly TimeProvider _clock;

    public RecentWarnings(TimeProvider clock) => _clock = clock;

    public ILogger CreateLogger(string categoryName) => new WarningLogger(this, categoryName);

    /// <summary>The kept entries, newest first.</summary>
    public LoggedWarning[] Entries()
    {
        lock (_entries)
        {
            return [.. _entries.Reverse()];
        }
    }

    private void Add(LoggedWarning entry)
    {
        lock (_entries)
        {
            if (_entries.Count == Capacity)
            {
                _entries.Dequeue();
            }
            _entries.Enqueue(entry);
        }
    }

    public void Dispose()
    {
    }

    private sealed class WarningLogger(RecentWarnings owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel is >= LogLevel.Warning and < LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Add(new LoggedWarning(owner._clock.GetUtcNow(), logLevel.ToString(), category, eventId.Id,
                    formatter(state, exception), exception?.GetType().Name));
            }
        }
    }
}

/// <summary>A warning or error as the status page shows it.</summary>
internal sealed record LoggedWarning(DateTimeOffset At, string Level, string Category, int EventId, string Message, string? Exception);
