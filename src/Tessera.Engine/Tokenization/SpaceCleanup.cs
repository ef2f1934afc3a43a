namespace Tessera.Engine.Tokenization;

/// <summary>
/// llama.cpp's <c>clean_spaces</c> (BPE decoding's clean-up of tokenization spaces): three passes over the decoded
/// bytes that drop the space before "?", "!", ".", ",", the spaces around a lone "'", and the space before "'s",
/// "'m", "'re", "'ve". Only spaces are ever dropped, and whether one is depends on the byte after it (and, when that
/// is a quote, the two after the quote) and at most four before it, which lets <see cref="StreamingDetokenizer"/>
/// apply it to a stream with a short hold-back.
/// </summary>
internal static class SpaceCleanup
{
    /// <summary>Bytes after a space that decide whether it is dropped.</summary>
    public const int Lookahead = 3;

    /// <summary>Bytes before a position that can influence what happens at it (with margin).</summary>
    public const int Lookbehind = 8;

    /// <summary>
    /// Cleans <paramref name="text"/> in place and returns its new length; <paramref name="origin"/> (as long as the
    /// text) receives, for each kept byte, its index in the input.
    /// </summary>
    public static int Apply(Span<byte> text, Span<int> origin)
    {
        var length = text.Length;
        for (var i = 0; i < length; i++)
            origin[i] = i;

        // " ?", " !", " .", " ,": drop the space.
        var total = length > 0 ? 1 : 0;
        for (var i = 1; i < length; i++)
        {
            var x = text[i];
            if (text[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',')
                total--;
            origin[total] = origin[i];
            text[total++] = x;
        }

        // " ' ": drop both spaces.
        length = total;
        total = length > 0 ? 1 : 0;
        for (var i = 1; i < length; i++)
        {
            var x = text[i];
            var from = origin[i];
            if (x == '\'' && i + 1 < length && text[i - 1] == ' ' && text[i + 1] == ' ')
            {
                total--;
                text[++i] = 0;
            }
            origin[total] = from;
            text[total++] = x;
        }

        // " 's", " 'm", " 're", " 've": drop the space.
        length = total;
        total = length > 0 ? 1 : 0;
        for (var i = 1; i < length; i++)
        {
            var x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < length)
            {
                var x1 = text[i + 1];
                if (x1 is (byte)'s' or (byte)'m')
                    total--;
                else if (i + 2 < length && ((x1 == 'r' && text[i + 2] == 'e') || (x1 == 'v' && text[i + 2] == 'e')))
                    total--;
            }
            origin[total] = origin[i];
            text[total++] = x;
        }
        return total;
    }
}
