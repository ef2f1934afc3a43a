using System.Globalization;

namespace Tessera.Pool.Security;

/// <summary>Parses durations written as a number and a unit: 250ms, 90s, 30m, 24h, 7d.</summary>
public static class DurationParser
{
    public static TimeSpan Parse(string text)
    {
        text = (text ?? string.Empty).Trim();
        if (text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) && double.TryParse(text[..^2], NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms > 0)
            return TimeSpan.FromMilliseconds(ms);
        if (text.Length >= 2 && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0)
        {
            switch (char.ToLowerInvariant(text[^1]))
            {
                case 's': return TimeSpan.FromSeconds(value);
                case 'm': return TimeSpan.FromMinutes(value);
                case 'h': return TimeSpan.FromHours(value);
                case 'd': return TimeSpan.FromDays(value);
            }
        }
        throw new PoolException($"'{text}' is not a duration: write a positive number and a unit, e.g. 250ms, 90s, 30m, 24h or 7d.", exitCode: 2);
    }
}
