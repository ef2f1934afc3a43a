using System.Globalization;

namespace Tessera.Pool.Hardware;

/// <summary>Parsers of Linux /proc files (pure: they take the text).</summary>
public static class ProcParsers
{
    /// <summary>The CPU model from /proc/cpuinfo ("model name" on x86, "Model" or "CPU part" elsewhere).</summary>
    public static string CpuModel(string cpuinfo)
    {
        string? model = null, hardware = null;
        foreach (var line in cpuinfo.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0)
                continue;
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (key == "model name" && value.Length > 0)
                return value;
            if (key == "Model" && value.Length > 0)
                model ??= value;
            if (key == "Hardware" && value.Length > 0)
                hardware ??= value;
        }
        return model ?? hardware ?? "unknown CPU";
    }

    /// <summary>MemTotal and MemAvailable from /proc/meminfo, in bytes.</summary>
    public static (long Total, long Available) Memory(string meminfo)
    {
        long total = 0, available = -1, free = 0;
        foreach (var line in meminfo.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0)
                continue;
            var key = line[..colon];
            var parts = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || !long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb))
                continue;
            var bytes = kb * 1024;
            switch (key)
            {
                case "MemTotal": total = bytes; break;
                case "MemAvailable": available = bytes; break;
                case "MemFree": free = bytes; break;
            }
        }
        return (total, available >= 0 ? available : free);
    }

    /// <summary>Busy and total jiffies from the first ("cpu ") line of /proc/stat.</summary>
    public static (long Busy, long Total) CpuTimes(string stat)
    {
        var line = stat.Split('\n').FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null)
            return (0, 0);
        var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(v => long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0).ToArray();
        var total = values.Sum();
        var idle = values.ElementAtOrDefault(3) + values.ElementAtOrDefault(4);
        return (total - idle, total);
    }
}
