using System.Globalization;

namespace Tessera.Planner.Internal;

/// <summary>Byte counts and speeds in the decimal units users read (1 GB = 10^9 bytes).</summary>
internal static class Bytes
{
    public static string Format(long bytes)
    {
        var abs = Math.Abs((double)bytes);
        return abs switch
        {
            >= 1e9 => F(bytes / 1e9) + " GB",
            >= 1e6 => F(bytes / 1e6) + " MB",
            >= 1e3 => F(bytes / 1e3) + " KB",
            _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
        };
    }

    public static string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);

    public static string Ms(double seconds) => (seconds * 1000).ToString("0.00", CultureInfo.InvariantCulture) + " ms";

    public static string Rate(double tokensPerSecond) => tokensPerSecond.ToString("0.0", CultureInfo.InvariantCulture) + " tokens/s";
}
