using System.Text;

namespace Tessera.Generation.Constraints;

/// <summary>
/// Turns a range of Unicode code points into the byte-range sequences of their UTF-8 encodings, so a grammar over
/// bytes can say "any character from U+00E0 to U+00FF". The range is cut where the encoding's length changes and
/// where a continuation byte would not cover its whole span (the method of Go's and Rust's regular-expression
/// compilers). Surrogates are left out: they are not characters and UTF-8 cannot hold them.
/// </summary>
internal static class Utf8Ranges
{
    public static List<(byte Lo, byte Hi)[]> Split(int lo, int hi)
    {
        var result = new List<(byte, byte)[]>();
        if (lo <= 0xD7FF)
            SplitByLength(lo, Math.Min(hi, 0xD7FF), result);
        if (hi >= 0xE000)
            SplitByLength(Math.Max(lo, 0xE000), hi, result);
        return result;
    }

    private static void SplitByLength(int lo, int hi, List<(byte, byte)[]> result)
    {
        foreach (var max in (ReadOnlySpan<int>)[0x7F, 0x7FF, 0xFFFF, 0x10FFFF])
        {
            if (lo > hi)
                return;
            if (lo <= max)
            {
                SplitAligned(lo, Math.Min(hi, max), result);
                lo = max + 1;
            }
        }
    }

    /// <summary>Both ends encode to the same length; cut until every byte position is a plain range.</summary>
    private static void SplitAligned(int lo, int hi, List<(byte, byte)[]> result)
    {
        var length = new Rune(lo).Utf8SequenceLength;
        for (var i = 1; i < length; i++)
        {
            var mask = (1 << (6 * i)) - 1;
            if ((lo & ~mask) == (hi & ~mask))
                continue;
            if ((lo & mask) != 0)
            {
                SplitAligned(lo, lo | mask, result);
                SplitAligned((lo | mask) + 1, hi, result);
                return;
            }
            if ((hi & mask) != mask)
            {
                SplitAligned(lo, (hi & ~mask) - 1, result);
                SplitAligned(hi & ~mask, hi, result);
                return;
            }
        }
        Span<byte> a = stackalloc byte[4];
        Span<byte> b = stackalloc byte[4];
        new Rune(lo).EncodeToUtf8(a);
        new Rune(hi).EncodeToUtf8(b);
        var sequence = new (byte, byte)[length];
        for (var i = 0; i < length; i++)
            sequence[i] = (a[i], b[i]);
        result.Add(sequence);
    }
}
