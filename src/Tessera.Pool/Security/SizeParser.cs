using System.Globalization;

namespace Tessera.Pool.Security;

/// <summary>Parses sizes written as a number and a unit: 512MB, 200GB, 1.5TB (powers of 1024, as disks are counted here), or plain bytes.</summary>
public static class SizeParser
{
    public static long Parse(string text)
    {
        text = (text ?? string.Empty).Trim();
        var digits = text.TrimEnd('B', 'b', 'i', 'I');
        var unit = 1L;
        if (digits.Length > 0 && char.IsLetter(digits[^1]))
        {
            unit = char.ToUpperInvariant(digits[^1]) switch
            {
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                'T' => 1L << 40,
                _ => 0,
            };
            digits = digits[..^1];
        }
        if (unit > 0 && double.TryParse(digits, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && value * unit < long.MaxValue)
            return (long)(value * unit);
        throw new PoolException($"'{text}' is not a size: write a positive number and a unit, e.g. 512MB, 200GB or 2TB.", exitCode: 2);
    }
}
