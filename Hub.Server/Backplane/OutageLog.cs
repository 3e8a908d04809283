namespace CollabHub.Server.Backplane;

/// <summary>
/// Logs a repeating failure once when it starts and once when it ends, with how many times it failed meanwhile,
/// instead of once per message.
/// </summary>
internal sealed class OutageLog(Action<Exception> started, Action<long> ended)
{
    private long _failuresInOutage;

    public void Failed(Exception exception)
    {
        if (Interlocked.Increment(ref _failuresInOutage) == 1)
        {
            started(exception);
        }
    }

    public void Succeeded()
    {
        if (Volatile.Read(ref _failuresInOutage) == 0)
        {
            return;
        }
        var failed = Interlocked.Exchange(ref _failuresInOutage, 0);
        if (failed > 0)
        {
            ended(failed);
        }
    }
}
