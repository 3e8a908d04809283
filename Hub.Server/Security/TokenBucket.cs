namespace CollabHub.Server.Security;

/// <summary>
/// A token bucket refilled from the clock when it is used, so that it costs no timer and a few dozen bytes: every
/// connection holds several (System.Threading.RateLimiting's auto-replenishing buckets hold a timer each, which for
/// thousands of idle connections means thousands of timers firing every second).
/// </summary>
/// <remarks>
/// Two ways to spend: <see cref="TryTake"/> for calls (one token each, refused when none is left), and
/// <see cref="HasBudget"/> then <see cref="Charge"/> for work whose cost is known only afterwards (bytes served): it is
/// let in while the balance is above zero and may take it below, and the debt is paid back by the refill first.
/// </remarks>
internal sealed class TokenBucket
{
    // Locks on itself (private to this class, never handed out): a Lock object each would add 40 bytes per bucket.
    private readonly long _perSecond;
    private readonly long _burst;
    private readonly TimeProvider _clock;
    private long _balance;
    private long _refilledAt;

    public TokenBucket(long perSecond, long burst, TimeProvider clock)
    {
        _perSecond = perSecond;
        _burst = burst;
        _clock = clock;
        _balance = burst;
        _refilledAt = clock.GetTimestamp();
    }

    /// <summary>Takes one token; false (and nothing taken) when the bucket is empty.</summary>
    public bool TryTake()
    {
        lock (this)
        {
            Refill();
            if (_balance < 1)
            {
                return false;
            }
            _balance--;
            return true;
        }
    }

    public bool HasBudget()
    {
        lock (this)
        {
            Refill();
            return _balance > 0;
        }
    }

    public void Charge(long cost)
    {
        lock (this)
        {
            Refill();
            _balance -= cost;
        }
    }

    private void Refill()
    {
        var now = _clock.GetTimestamp();
        // Whole tokens only, and the clock moves on only when one was earned, so slow rates lose no fraction.
        var earned = (long)(_clock.GetElapsedTime(_refilledAt, now).TotalSeconds * _perSecond);
        if (earned > 0)
        {
            _balance = Math.Min(_burst, _balance + earned);
            _refilledAt = now;
        }
    }
}
