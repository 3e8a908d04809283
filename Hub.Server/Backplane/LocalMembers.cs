using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Backplane;

/// <summary>
/// This instance's connections per group (or per user), and the Redis subscription that follows them: subscribed
/// when the first local member arrives, unsubscribed when the last one leaves. Sends read an immutable array of the
/// members without locking or allocating; membership changes copy it. Subscription changes of one key run in order
/// (each chained after the previous), so a quick leave-and-join cannot end unsubscribed, and no lock is held
/// across an await.
/// </summary>
internal sealed class LocalMembers(Func<string, Task> subscribe, Action<string> unsubscribe)
{
    private readonly ConcurrentDictionary<string, Members> _byKey = new(StringComparer.Ordinal);

    public HubConnectionContext[] Get(string key) => _byKey.TryGetValue(key, out var members) ? members.Snapshot : [];

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
                if (Array.IndexOf(members.Snapshot, connection) < 0)
                {
                    members.Snapshot = [.. members.Snapshot, connection];
                    if (members.Snapshot.Length == 1)
                    {
                        members.Tail = Chain(members.Tail, () => subscribe(key));
                    }
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
            var index = Array.IndexOf(members.Snapshot, connection);
            if (index < 0)
            {
                return Task.CompletedTask;
            }
            members.Snapshot = [.. members.Snapshot[..index], .. members.Snapshot[(index + 1)..]];
            if (members.Snapshot.Length == 0)
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
            if (members.Snapshot.Length == 0)
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

    private sealed class Members
    {
        public volatile HubConnectionContext[] Snapshot = [];
        public Task Tail = Task.CompletedTask;
        public bool Retired;
    }
}
