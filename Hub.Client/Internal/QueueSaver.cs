using Microsoft.Extensions.Logging;

namespace CollabHub.Client.Internal;

/// <summary>
/// Keeps the <see cref="WriteQueue"/>'s offline queue file up to date: saves off the caller's thread, one at a time,
/// with the saves asked for meanwhile merged into one. A save that fails is logged and reported, and the next one tries again.
/// </summary>
internal sealed class QueueSaver(QueueFile file, ILogger logger, Notifier notifier, Func<List<PersistedWrite>> snapshot, Action<Exception> saveFailed)
{
    // Guards _saveDirty and _saveRunning: whether a save is wanted, and whether one is going.
    private readonly object _saveGate = new();
    private bool _saveDirty;
    private bool _saveRunning;

    // Guards the file itself and _fileClosed: one write to it at a time, none after it was closed. The queue's lock is taken under it.
    private readonly object _fileGate = new();
    private bool _fileClosed;

    public string Path => file.Path;

    /// <summary>The writes the file holds now, in order.</summary>
    /// <exception cref="InvalidDataException">The file is not an offline queue this version understands.</exception>
    public IReadOnlyList<PersistedWrite> Load() => file.Load();

    /// <summary>Saves the queue soon, off the caller's thread; saves requested meanwhile are merged into one.</summary>
    public void RequestSave()
    {
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
                SaveNow();
            }
        });
    }

    /// <summary>Saves the queue now, on this thread; does nothing once the file is closed.</summary>
    public void SaveNow()
    {
        lock (_fileGate)
        {
            if (_fileClosed)
            {
                return;
            }
            var writes = snapshot();
            try
            {
                file.Save(writes);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Log.QueueSaveFailed(logger, file.Path, ex);
                notifier.Post(() => saveFailed(ex));
            }
        }
        notifier.Drain();
    }

    /// <summary>Closes the file (and lets go of its lock file): no save after this one.</summary>
    public void Close()
    {
        lock (_fileGate)
        {
            _fileClosed = true;
            file.Dispose();
        }
    }
}
