using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>Waiting for a condition, with a timeout, by polling it.</summary>
internal static class Eventually
{
    public static Task HoldsAsync(Func<bool> condition, Func<string> what, TimeSpan? timeout = null) =>
        HoldsAsync(() => Task.FromResult(condition()), what, timeout, TimeSpan.FromMilliseconds(50));

    /// <summary>Asks <paramref name="condition"/> every <paramref name="interval"/> until it holds, or fails after the timeout.</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout, TimeSpan interval)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestClients.Timeout);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what()}");
            await Task.Delay(interval);
        }
    }
}
