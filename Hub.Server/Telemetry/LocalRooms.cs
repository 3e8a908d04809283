using System.Collections.Concurrent;

namespace CollabHub.Server.Telemetry;

/// <summary>
/// How many of this instance's connections are in each room: the rooms active here (<c>collabhub.rooms.active</c>)
/// and the busiest of them (the status page). Counted on join and leave, never on a send.
/// </summary>
internal sealed class LocalRooms
{
    private readonly ConcurrentDictionary<string, int> _members = new(StringComparer.Ordinal);

    public int Count => _members.Count;

    public void Joined(string roomId) => _members.AddOrUpdate(roomId, 1, static (_, count) => count + 1);

    public void Left(string roomId)
    {
        while (_members.TryGetValue(roomId, out var count))
        {
            var done = count <= 1
                ? _members.TryRemove(new KeyValuePair<string, int>(roomId, count))
                : _members.TryUpdate(roomId, count - 1, count);
            if (done)
            {
                return;
            }
        }
    }

    /// <summary>The <paramref name="max"/> rooms with the most local connections, most first.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> Busiest(int max) =>
        [.. _members.OrderByDescending(room => room.Value).ThenBy(room => room.Key, StringComparer.Ordinal).Take(max)];
}
