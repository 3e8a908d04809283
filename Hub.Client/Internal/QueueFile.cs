using System.Text.Json;

namespace CollabHub.Client.Internal;

/// <summary>
/// The offline queue on disk: <c>{ "version": 1, "writes": [ ... ] }</c>, replaced atomically (written to a temporary
/// file, flushed to disk, then renamed over the old one). A <c>.lock</c> file beside it, held open without sharing, keeps
/// two clients from using one queue file.
/// </summary>
internal sealed class QueueFile : IDisposable
{
    private const int FormatVersion = 1;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    private readonly FileStream _lock;

    public QueueFile(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        if (System.IO.Path.GetDirectoryName(Path) is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
        }
        try
        {
            _lock = new FileStream(Path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException($"The offline queue {Path} is in use by another client (its .lock file is held).", ex);
        }
    }

    public string Path { get; }

    /// <summary>The writes in the file, in order; none when there is no file.</summary>
    /// <exception cref="InvalidDataException">The file is not an offline queue this version understands.</exception>
    public IReadOnlyList<PersistedWrite> Load()
    {
        if (!File.Exists(Path))
        {
            return [];
        }
        try
        {
            using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var file = JsonSerializer.Deserialize<Contents>(stream, Json);
            if (file is not { Version: FormatVersion, Writes: { } writes })
            {
                throw new InvalidDataException($"{Path} is not an offline queue of format version {FormatVersion}.");
            }
            foreach (var write in writes)
            {
                var valid = write is { MutationId.Length: > 0, RoomId.Length: > 0 } && write.Kind switch
                {
                    "set" => write.Key is not null && write.Value is not null,
                    "delete" => write.Key is not null,
                    "post" => write.Value is not null,
                    "batch" => write.Value is not null,
                    _ => false,
                };
                if (!valid)
                {
                    throw new InvalidDataException($"{Path} holds a malformed write ({write.MutationId}).");
                }
            }
            return writes;
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{Path} is not valid JSON.", ex);
        }
    }

    /// <summary>Replaces the file with <paramref name="writes"/>.</summary>
    public void Save(IReadOnlyList<PersistedWrite> writes)
    {
        var temp = Path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, new Contents(FormatVersion, [.. writes]), Json);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, Path, overwrite: true);
    }

    public void Dispose() => _lock.Dispose();

    private sealed record Contents(int Version, List<PersistedWrite> Writes);
}
