using System.Globalization;
using System.Runtime.CompilerServices;

namespace Tessera.Engine.Tokenization;

/// <summary>
/// Unicode classes the pre-tokenizer rules test, as llama.cpp's unicode tables define them: one general
/// category (\p{L}, \p{N}, ...) plus the White_Space property.
/// </summary>
[Flags]
internal enum CodepointFlags : ushort
{
    None = 0,
    Undefined = 1 << 0,
    Number = 1 << 1,
    Letter = 1 << 2,
    Separator = 1 << 3,
    Mark = 1 << 4,
    Punctuation = 1 << 5,
    Symbol = 1 << 6,
    Control = 1 << 7,
    Whitespace = 1 << 8,
}

/// <summary>Looks up <see cref="CodepointFlags"/> for a code point (a table for the BMP, computed above it).</summary>
internal static class Codepoints
{
    /// <summary>Unicode's replacement character, used for lone surrogates in input text.</summary>
    public const int Replacement = 0xFFFD;

    private static readonly CodepointFlags[] Bmp = BuildBmp();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static CodepointFlags Flags(int codepoint) =>
        (uint)codepoint < (uint)Bmp.Length ? Bmp[codepoint] : Compute(codepoint);

    public static bool IsWhitespace(int c) =>
        c is >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>Decodes UTF-16 into code points; lone surrogates become U+FFFD (as invalid UTF-8 does in llama.cpp).</summary>
    public static int Decode(ReadOnlySpan<char> text, Span<int> destination)
    {
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                destination[n++] = char.ConvertToUtf32(c, text[i + 1]);
                i++;
            }
            else
            {
                destination[n++] = char.IsSurrogate(c) ? Replacement : c;
            }
        }
        return n;
    }

    private static CodepointFlags[] BuildBmp()
    {
        var table = new CodepointFlags[0x10000];
        for (var c = 0; c < table.Length; c++)
            table[c] = Compute(c);
        return table;
    }

    private static CodepointFlags Compute(int codepoint)
    {
        if ((uint)codepoint > 0x10FFFF)
            return CodepointFlags.Undefined;
        var flags = CharUnicodeInfo.GetUnicodeCategory(codepoint) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointFlags.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointFlags.Number,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointFlags.Mark,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointFlags.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointFlags.Symbol,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CodepointFlags.Separator,
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate => CodepointFlags.Control,
            _ => CodepointFlags.Undefined,
        };
        if (IsWhitespace(codepoint))
            flags |= CodepointFlags.Whitespace;
        return flags;
    }
}
