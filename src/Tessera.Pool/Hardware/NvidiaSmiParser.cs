using System.Globalization;

namespace Tessera.Pool.Hardware;

/// <summary>
/// Parses the output of
/// <c>nvidia-smi --query-gpu=name,memory.total,memory.free,compute_cap,driver_version,utilization.gpu --format=csv,noheader,nounits</c>:
/// one line per GPU, fields separated by ", ", memory in MiB. Fields a GPU does not report read
/// <c>[N/A]</c> or <c>[Not Supported]</c>; a name may itself contain commas.
/// </summary>
public static class NvidiaSmiParser
{
    public const string QueryArguments = "--query-gpu=name,memory.total,memory.free,compute_cap,driver_version,utilization.gpu --format=csv,noheader,nounits";

    private const int FieldCount = 6;
    private const long MiB = 1024L * 1024L;

    public static IReadOnlyList<GpuInfo> Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var gpus = new List<GpuInfo>();
        foreach (var rawLine in output.Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.Length == 0)
                continue;
            var fields = line.Split(',').Select(f => f.Trim()).ToList();
            if (fields.Count < FieldCount)
                throw new FormatException($"Unexpected nvidia-smi line (expected {FieldCount} fields): '{line}'");
            // A name with commas: everything before the last five fields is the name.
            var nameParts = fields.Count - (FieldCount - 1);
            var name = string.Join(", ", fields.Take(nameParts));
            var rest = fields.Skip(nameParts).ToArray();
            gpus.Add(new GpuInfo(
                Index: gpus.Count,
                Name: name,
                MemoryTotalBytes: ParseLong(rest[0]) * MiB,
                MemoryFreeBytes: ParseLong(rest[1]) * MiB,
                ComputeCapability: Known(rest[2]) ?? string.Empty,
                DriverVersion: Known(rest[3]) ?? string.Empty,
                UtilizationPercent: ParseDouble(rest[4])));
        }
        return gpus;
    }

    private static string? Known(string field) =>
        field.StartsWith('[') || field.Length == 0 || field.Equals("N/A", StringComparison.OrdinalIgnoreCase) ? null : field;

    private static long ParseLong(string field) =>
        Known(field) is { } value && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;

    private static double ParseDouble(string field) =>
        Known(field) is { } value && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n : 0;
}
