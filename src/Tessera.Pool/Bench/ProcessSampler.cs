using System.Globalization;

namespace Tessera.Pool.Bench;

/// <summary>CPU time and resident memory of a process, read from /proc (Linux).</summary>
public static class ProcessSampler
{
    private const double ClockTicksPerSecond = 100.0; // USER_HZ, 100 on every mainstream Linux

    /// <summary>User + system CPU time consumed so far.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // after "pid (comm) ": field 3 is state at index 0, so utime (14) is index 11, stime (15) index 12
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / ClockTicksPerSecond);
    }

    /// <summary>Resident set size in bytes.</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        return 0;
    }

    /// <summary>
    /// This process's limit on open files (the soft limit, which .NET raises to the hard limit at start), or null where
    /// /proc does not say.
    /// </summary>
    public static long? OpenFileLimit()
    {
        if (!File.Exists("/proc/self/limits"))
            return null;
        foreach (var line in File.ReadLines("/proc/self/limits"))
        {
            if (!line.StartsWith("Max open files", StringComparison.Ordinal))
                continue;
            var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
            return soft == "unlimited" ? long.MaxValue : long.Parse(soft, CultureInfo.InvariantCulture);
        }
        return null;
    }
}
