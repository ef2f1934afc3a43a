namespace Tessera.Engine.Tokenization;

/// <summary>One splitting pass of a byte-level BPE pre-tokenizer (llama.cpp applies several in order).</summary>
internal enum PreTokenizerRule
{
    /// <summary><c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c></summary>
    Gpt2,

    /// <summary><c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c></summary>
    Llama3,

    /// <summary>The Llama 3 pattern with single digits (<c>\p{N}</c> instead of <c>\p{N}{1,3}</c>).</summary>
    Qwen2,

    /// <summary><c>[\p{P}\$\+&lt;=&gt;\^~\|]+</c> (llama.cpp's "default" first pass).</summary>
    PunctuationRuns,

    /// <summary><c>[\p{P}\$\+&lt;=&gt;\^~\|`]+</c> (Falcon's first pass).</summary>
    PunctuationRunsWithBacktick,

    /// <summary><c>\p{N}+</c></summary>
    NumberRuns,

    /// <summary><c>\p{N}</c></summary>
    SingleNumbers,

    /// <summary><c>[0-9][0-9][0-9]</c></summary>
    AsciiDigitTriples,
}

/// <summary>A piece of text as a range of code points.</summary>
internal readonly record struct Segment(int Start, int Length);

/// <summary>
/// What a <c>tokenizer.ggml.pre</c> name selects in llama.cpp: the splitting passes, whether whole words found in
/// the vocabulary skip the merges, whether decoding cleans spaces before punctuation, and whether BOS is added.
/// </summary>
internal sealed record PreTokenizerConfig(
    string Name,
    bool Recognized,
    PreTokenizerRule[] Rules,
    bool IgnoreMerges,
    bool CleanSpaces,
    bool AddBos)
{
    private static readonly PreTokenizerRule[] DefaultRules =
        [PreTokenizerRule.PunctuationRuns, PreTokenizerRule.Gpt2, PreTokenizerRule.NumberRuns, PreTokenizerRule.AsciiDigitTriples];

    /// <summary>
    /// The configuration for a pre-tokenizer name. Unknown names (llama.cpp refuses them) get the Llama 3 pattern,
    /// the most common one among recent BPE models; <see cref="Recognized"/> tells the caller.
    /// </summary>
    public static PreTokenizerConfig Resolve(string? name)
    {
        var n = name ?? "";
        switch (n)
        {
            case "" or "default":
                return new(n, true, DefaultRules, false, true, false);
            case "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2" or "jina-v5-nano":
                return new(n, true, [PreTokenizerRule.Llama3], true, true, true);
            case "dbrx" or "smaug-bpe" or "glm4" or "chatglm-bpe":
                return new(n, true, [PreTokenizerRule.Llama3], false, true, false);
            case "tekken":
                return new(n, true, [PreTokenizerRule.Llama3], true, false, true);
            case "qwen2" or "deepseek-r1-qwen" or "kormo" or "f2llmv2" or "hunyuan" or "solar-open" or "grok-2":
                return new(n, true, [PreTokenizerRule.Qwen2], false, false, false);
            case "stablelm2" or "megrez":
                return new(n, true, [PreTokenizerRule.Qwen2], false, true, false);
            case "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v2-es" or "jina-v2-de" or "a.x-4.0"
                or "mellum" or "modern-bert" or "jina-v1-en" or "jina-v2-code" or "roberta-bpe" or "mpt" or "olmo"
                or "jais" or "exaone4":
                return new(n, true, [PreTokenizerRule.Gpt2], false, true, false);
            case "trillion" or "granite-docling":
                return new(n, true, [PreTokenizerRule.Gpt2], false, false, false);
            case "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" or "mellum2":
                return new(n, true, [PreTokenizerRule.SingleNumbers, PreTokenizerRule.Gpt2], false, true, false);
            case "command-r" or "smollm":
                return new(n, true, [PreTokenizerRule.SingleNumbers, PreTokenizerRule.Gpt2], false, false, false);
            case "falcon":
                return new(n, true, [PreTokenizerRule.PunctuationRunsWithBacktick, PreTokenizerRule.Gpt2, PreTokenizerRule.AsciiDigitTriples], false, true, false);
            default:
                return new(n, false, [PreTokenizerRule.Llama3], false, true, false);
        }
    }
}

/// <summary>
/// Splits text (as code points) into words before BPE, with the semantics of llama.cpp's pre-tokenizer regexes:
/// each pass splits every segment of the previous pass into matches and the gaps between them.
/// </summary>
internal static class PreTokenizer
{
    public static void Split(ReadOnlySpan<int> cps, PreTokenizerRule[] rules, List<Segment> output)
    {
        output.Clear();
        if (cps.IsEmpty)
            return;
        output.Add(new Segment(0, cps.Length));
        List<Segment>? scratch = null;
        foreach (var rule in rules)
        {
            scratch ??= new List<Segment>(output.Count * 4);
            scratch.Clear();
            foreach (var segment in output)
                SplitSegment(cps, segment.Start, segment.Start + segment.Length, rule, scratch);
            output.Clear();
            output.AddRange(scratch);
        }
    }

    private static void SplitSegment(ReadOnlySpan<int> cps, int start, int end, PreTokenizerRule rule, List<Segment> output)
    {
        switch (rule)
        {
            case PreTokenizerRule.Gpt2:
                SplitGpt2(cps, start, end, output);
                break;
            case PreTokenizerRule.Llama3:
                SplitLlama3(cps, start, end, 3, output);
                break;
            case PreTokenizerRule.Qwen2:
                SplitLlama3(cps, start, end, 1, output);
                break;
            case PreTokenizerRule.PunctuationRuns:
                SplitRuns(cps, start, end, c => IsDefaultPunctuation(c, false), output);
                break;
            case PreTokenizerRule.PunctuationRunsWithBacktick:
                SplitRuns(cps, start, end, c => IsDefaultPunctuation(c, true), output);
                break;
            case PreTokenizerRule.NumberRuns:
                SplitRuns(cps, start, end, c => (Codepoints.Flags(c) & CodepointFlags.Number) != 0, output);
                break;
            case PreTokenizerRule.SingleNumbers:
                SplitSingles(cps, start, end, output);
                break;
            case PreTokenizerRule.AsciiDigitTriples:
                SplitAsciiDigitTriples(cps, start, end, output);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(rule), rule, "Unknown pre-tokenizer rule.");
        }
    }

    private static bool IsDefaultPunctuation(int c, bool backtick) =>
        (Codepoints.Flags(c) & CodepointFlags.Punctuation) != 0 || c is '$' or '+' or '<' or '=' or '>' or '^' or '~' or '|' || (backtick && c == '`');

    private static void Add(List<Segment> output, int from, int to)
    {
        if (to > from)
            output.Add(new Segment(from, to - from));
    }

    /// <summary>Maximal runs of matching code points and the gaps between them.</summary>
    private static void SplitRuns(ReadOnlySpan<int> cps, int start, int end, Func<int, bool> match, List<Segment> output)
    {
        var gap = start;
        var pos = start;
        while (pos < end)
        {
            if (!match(cps[pos]))
            {
                pos++;
                continue;
            }
            Add(output, gap, pos);
            var runStart = pos;
            while (pos < end && match(cps[pos]))
                pos++;
            Add(output, runStart, pos);
            gap = pos;
        }
        Add(output, gap, end);
    }

    private static void SplitSingles(ReadOnlySpan<int> cps, int start, int end, List<Segment> output)
    {
        var gap = start;
        for (var pos = start; pos < end; pos++)
        {
            if ((Codepoints.Flags(cps[pos]) & CodepointFlags.Number) == 0)
                continue;
            Add(output, gap, pos);
            Add(output, pos, pos + 1);
            gap = pos + 1;
        }
        Add(output, gap, end);
    }

    private static void SplitAsciiDigitTriples(ReadOnlySpan<int> cps, int start, int end, List<Segment> output)
    {
        var gap = start;
        var pos = start;
        while (pos + 3 <= end)
        {
            if (IsAsciiDigit(cps[pos]) && IsAsciiDigit(cps[pos + 1]) && IsAsciiDigit(cps[pos + 2]))
            {
                Add(output, gap, pos);
                Add(output, pos, pos + 3);
                pos += 3;
                gap = pos;
            }
            else
            {
                pos++;
            }
        }
        Add(output, gap, end);
    }

    private static bool IsAsciiDigit(int c) => c is >= '0' and <= '9';

    private const CodepointFlags WordClasses = CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number;

    private static void SplitGpt2(ReadOnlySpan<int> cps, int start, int end, List<Segment> output)
    {
        var pos = start;
        while (pos < end)
        {
            var tokenStart = pos;
            var c = cps[pos];

            // 's|'t|'re|'ve|'m|'ll|'d
            if (c == '\'' && pos + 1 < end)
            {
                var next = cps[pos + 1];
                if (next is 's' or 't' or 'm' or 'd')
                {
                    pos += 2;
                    Add(output, tokenStart, pos);
                    continue;
                }
                if (pos + 2 < end)
                {
                    var next2 = cps[pos + 2];
                    if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                    {
                        pos += 3;
                        Add(output, tokenStart, pos);
                        continue;
                    }
                }
            }

            var flags = FlagsAt(cps, pos, end);
            var lead = c == ' ' ? FlagsAt(cps, pos + 1, end) : flags;

            //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
            var cls = (lead & CodepointFlags.Letter) != 0 ? CodepointFlags.Letter
                : (lead & CodepointFlags.Number) != 0 ? CodepointFlags.Number
                : (lead & WordClasses) == 0 && lead != CodepointFlags.None ? CodepointFlags.Symbol
                : CodepointFlags.None;
            if (cls != CodepointFlags.None)
            {
                if (c == ' ')
                    pos++;
                while (pos < end && InClass(FlagsAt(cps, pos, end), cls))
                    pos++;
                Add(output, tokenStart, pos);
                continue;
            }

            var spaces = 0;
            while (pos + spaces < end && (FlagsAt(cps, pos + spaces, end) & CodepointFlags.Whitespace) != 0)
                spaces++;

            // \s+(?!\S)
            if (spaces > 1 && pos + spaces < end)
            {
                pos += spaces - 1;
                Add(output, tokenStart, pos);
                continue;
            }

            // \s+
            if (spaces > 0)
            {
                pos += spaces;
                Add(output, tokenStart, pos);
                continue;
            }

            pos++;
            Add(output, tokenStart, pos);
        }
    }

    private static void SplitLlama3(ReadOnlySpan<int> cps, int start, int end, int maxDigits, List<Segment> output)
    {
        var pos = start;
        while (pos < end)
        {
            var tokenStart = pos;
            var c = cps[pos];
            var flags = FlagsAt(cps, pos, end);

            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if (c == '\'' && pos + 1 < end)
            {
                var next = AsciiLower(cps[pos + 1]);
                if (next is 's' or 't' or 'm' or 'd')
                {
                    pos += 2;
                    Add(output, tokenStart, pos);
                    continue;
                }
                if (pos + 2 < end)
                {
                    var next2 = AsciiLower(cps[pos + 2]);
                    if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                    {
                        pos += 3;
                        Add(output, tokenStart, pos);
                        continue;
                    }
                }
            }

            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (!(c == '\r' || c == '\n' || (flags & CodepointFlags.Number) != 0))
            {
                if ((flags & CodepointFlags.Letter) != 0 || (FlagsAt(cps, pos + 1, end) & CodepointFlags.Letter) != 0)
                {
                    pos++;
                    while (pos < end && (FlagsAt(cps, pos, end) & CodepointFlags.Letter) != 0)
                        pos++;
                    Add(output, tokenStart, pos);
                    continue;
                }
            }

            // \p{N}{1,maxDigits}
            if ((flags & CodepointFlags.Number) != 0)
            {
                var groupStart = pos;
                while (pos < end && (FlagsAt(cps, pos, end) & CodepointFlags.Number) != 0)
                {
                    pos++;
                    if (pos - groupStart >= maxDigits)
                    {
                        Add(output, groupStart, pos);
                        groupStart = pos;
                    }
                }
                Add(output, groupStart, pos);
                continue;
            }

            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            var lead = c == ' ' ? FlagsAt(cps, pos + 1, end) : flags;
            if ((lead & WordClasses) == 0 && lead != CodepointFlags.None)
            {
                if (c == ' ')
                    pos++;
                while (pos < end && InClass(FlagsAt(cps, pos, end), CodepointFlags.Symbol))
                    pos++;
                while (pos < end && cps[pos] is '\r' or '\n')
                    pos++;
                Add(output, tokenStart, pos);
                continue;
            }

            var spaces = 0;
            var afterLastNewline = -1;
            while (pos + spaces < end && (FlagsAt(cps, pos + spaces, end) & CodepointFlags.Whitespace) != 0)
            {
                if (cps[pos + spaces] is '\r' or '\n')
                    afterLastNewline = pos + spaces + 1;
                spaces++;
            }

            // \s*[\r\n]+
            if (afterLastNewline >= 0)
            {
                pos = afterLastNewline;
                Add(output, tokenStart, pos);
                continue;
            }

            // \s+(?!\S)
            if (spaces > 1 && pos + spaces < end)
            {
                pos += spaces - 1;
                Add(output, tokenStart, pos);
                continue;
            }

            // \s+
            if (spaces > 0)
            {
                pos += spaces;
                Add(output, tokenStart, pos);
                continue;
            }

            pos++;
            Add(output, tokenStart, pos);
        }
    }

    /// <summary>Letter and Number mean \p{L} and \p{N}; Symbol stands for [^\s\p{L}\p{N}].</summary>
    private static bool InClass(CodepointFlags flags, CodepointFlags cls) => cls switch
    {
        CodepointFlags.Letter => (flags & CodepointFlags.Letter) != 0,
        CodepointFlags.Number => (flags & CodepointFlags.Number) != 0,
        _ => (flags & WordClasses) == 0 && flags != CodepointFlags.None,
    };

    private static CodepointFlags FlagsAt(ReadOnlySpan<int> cps, int pos, int end) =>
        pos < end ? Codepoints.Flags(cps[pos]) : CodepointFlags.None;

    private static int AsciiLower(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;
}
