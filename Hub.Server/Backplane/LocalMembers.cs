using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Backplane;

/// <summary>
/// This instance's connections per group (or per user), and the Redis subscription that follows them: subscribed
/// when the first local member arrives, unsubscribed when the last one leaves. Members are a set (a join or leave is
/// O(1), so filling a room of n costs O(n), not O(n²) as copying an array per join did); sends read an immutable array
/// of them, built on the first send after a change and reused, without locking, until the next change. Subscription
/// changes of one key run in order (each chained after the previous), so a quick leave-and-join cannot end
/// unsubscribed, and no lock is held across an await.
/// </summary>
internal sealed class LocalMembers(Func<string, Task> subscribe, Action<string> unsubscribe)
{
    private readonly ConcurrentDictionary<string, Members> _byKey = new(StringComparer.Ordinal);

    public HubConnectionContext[] Get(string key) => _byKey.TryGetValue(key, out var members) ? members.Snapshot() : [];

    /// <summary>Adds a member; completes once the key's subscription is in place.</summary>
    public Task AddAsync(string key, HubConnectionContext connection)
    {
        while (true)
        {
            var members = _byKey.GetOrAdd(key, static _ => new Members());
            lock (members)
            {
                if (members.Retired)
                {
                    continue;
                }
                if (members.Add(connection) && members.Count == 1)
                {
                    members.Tail = Chain(members.Tail, () => subscribe(key));
                }
                return members.Tail;
            }
        }
    }

    /// <summary>Removes a member; completes once the key is unsubscribed (after its pending subscribe) if that was its last one.</summary>
    public Task RemoveAsync(string key, HubConnectionContext connection)
    {
        if (!_byKey.TryGetValue(key, out var members))
        {
            return Task.CompletedTask;
        }
        lock (members)
        {
            if (!members.Remove(connection))
            {
                return Task.CompletedTask;
            }
            if (members.Count == 0)
            {
                members.Tail = Chain(members.Tail, () =>
                {
                    unsubscribe(key);
                    Retire(key, members);
                    return Task.CompletedTask;
                });
            }
            return members.Tail;
        }
    }

    /// <summary>Drops the key's entry once it is unsubscribed and still empty; a member that came meanwhile keeps it.</summary>
    private void Retire(string key, Members members)
    {
        lock (members)
        {
            if (members.Count == 0)
            {
                members.Retired = true;
                _byKey.TryRemove(new KeyValuePair<string, Members>(key, members));
            }
        }
    }

    private static async Task Chain(Task previous, Func<Task> next)
    {
        try
        {
            await previous;
        }
        catch
        {
            // The previous step's caller saw its failure; this step still runs.
        }
        await next();
    }

    /// <summary>One key's members. Add, Remove and Count are called under the lock on this object; Snapshot is not.</summary>
    private sealed class Members
    {
        private readonly HashSet<HubConnectionContext> _set = [];
        private volatile HubConnectionContext[]? _snapshot = [];

        public Task Tail = Task.CompletedTask;
        public bool Retired;

        public int Count => _set.Count;

        public bool Add(HubConnectionContext connection) => Changed(_set.Add(connection));

        public bool Remove(HubConnectionContext connection) => Changed(_set.Remove(connection));

        /// <summary>The members now; the array is shared by every send until the members change, and never modified.</summary>
        public HubConnectionContext[] Snapshot()
        {
            if (_snapshot is { } snapshot)
            {
                return snapshot;
            }
            lock (this)
            {
                return _snapshot ??= [.. _set];
            }
        }

        private bool Changed(bool changed)
        {
            if (changed)
            {
                _snapshot = null;
            }
            return changed;
        }
    }
}
