using System.Text.Json;
using CollabHub.Client.Internal;
using CollabHub.Protocol;

namespace CollabHub.Client;

// CollabClient: the offline queue file: loaded at construction, saved (coalesced) after changes.
public sealed partial class CollabClient
{
    private void LoadQueue(IReadOnlyList<PersistedWrite> writes)
    {
        foreach (var persisted in writes)
        {
            CollabRoom room;
            lock (_gate)
            {
                if (!_rooms.TryGetValue(persisted.RoomId, out room!))
                {
                    // Opened for its writes only: left again once they are answered, unless the app opens it.
                    room = new CollabRoom(this, persisted.RoomId);
                    _rooms[persisted.RoomId] = room;
                    _ = room.BeginLeave();
                }
            }
            var kind = persisted.Kind switch { "set" => WriteKind.Set, "delete" => WriteKind.Delete, "batch" => WriteKind.Batch, _ => WriteKind.Post };
            JsonElement? value = persisted.Value is { } json && kind != WriteKind.Batch ? JsonDocument.Parse(json).RootElement.Clone() : null;
            Add(new QueuedWrite
            {
                Kind = kind,
                Room = room,
                MutationId = persisted.MutationId,
                Key = persisted.Key,
                Value = value,
                Ops = kind == WriteKind.Batch ? JsonSerializer.Deserialize<BatchOp[]>(persisted.Value!, CollabConnection.Json) : null,
                ExpectedVersion = persisted.ExpectedVersion,
            }, loading: true);
        }
        if (writes.Count > 0)
        {
            Log.QueueLoaded(_logger, writes.Count, _file!.Path);
        }
    }

    /// <summary>Saves the queue soon, off the caller's thread; saves requested meanwhile are merged into one.</summary>
    private void RequestSave()
    {
        if (_file is null)
        {
            return;
        }
        lock (_saveGate)
        {
            _saveDirty = true;
            if (_saveRunning)
            {
                return;
            }
            _saveRunning = true;
        }
        _ = Task.Run(() =>
        {
            while (true)
            {
                lock (_saveGate)
                {
                    if (!_saveDirty)
                    {
                        _saveRunning = false;
                        return;
                    }
                    _saveDirty = false;
                }
                SaveQueueNow();
            }
        });
    }

    private void SaveQueueNow()
    {
        if (_file is null)
        {
            return;
        }
        lock (_fileGate)
        {
            if (_fileClosed)
            {
                return;
            }
            List<PersistedWrite> writes;
            lock (_queueGate)
            {
                writes = [.. _queue.Select(w => w.ToPersisted())];
            }
            try
            {
                _file.Save(writes);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Log.QueueSaveFailed(_logger, _file.Path, ex);
                _notifier.Post(() => Error?.Invoke(ex));
            }
        }
        _notifier.Drain();
    }
}
