using System.Globalization;

namespace CollabHub.Bench.Processes;

/// <summary>
/// CPU time and resident memory of a set of processes and all their descendants (PostgreSQL's backends, say), read
/// from /proc. Linux only, like the rest of the bench.
/// </summary>
internal sealed class ProcessMeter(IReadOnlyList<int> roots)
{
    private static readonly double TicksPerSecond = 100; // USER_HZ: 100 on every Linux the bench runs on
    private static readonly long PageSize = Environment.SystemPageSize;

    /// <summary>User plus system CPU seconds used so far by the processes (descendants still alive included).</summary>
    public double CpuSeconds() => Tree().Sum(pid => ReadStat(pid) is { } stat ? (stat.UserTicks + stat.SystemTicks) / TicksPerSecond : 0);

    /// <summary>Resident memory of the processes now, in bytes.</summary>
    public long ResidentBytes() => Tree().Sum(pid => ReadStat(pid)?.ResidentPages * PageSize ?? 0);

    /// <summary>The roots and every live descendant.</summary>
    private List<int> Tree()
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && ReadStat(pid) is { } stat)
            {
                parents[pid] = stat.ParentId;
            }
        }
        var all = new List<int>();
        var wanted = new HashSet<int>(roots.Where(parents.ContainsKey));
        all.AddRange(wanted);
        for (var added = true; added;)
        {
            added = false;
            foreach (var (pid, parent) in parents)
            {
                if (wanted.Contains(parent) && wanted.Add(pid))
                {
                    all.Add(pid);
                    added = true;
                }
            }
        }
        return all;
    }

    private readonly record struct Stat(int ParentId, long UserTicks, long SystemTicks, long ResidentPages);

    private static Stat? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        // The command name (field 2) is in parentheses and may hold spaces: the fields after its last ')' are fixed.
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24.
        return new Stat(
            int.Parse(fields[1], CultureInfo.InvariantCulture),
            long.Parse(fields[11], CultureInfo.InvariantCulture),
            long.Parse(fields[12], CultureInfo.InvariantCulture),
            long.Parse(fields[21], CultureInfo.InvariantCulture));
    }
}
