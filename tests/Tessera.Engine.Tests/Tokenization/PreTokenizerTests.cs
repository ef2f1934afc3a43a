using System.Text;
using System.Text.RegularExpressions;
using Tessera.Engine.Tokenization;

namespace Tessera.Engine.Tests.Tokenization;

/// <summary>
/// The hand-written pre-tokenizer passes against .NET's regex engine running the patterns llama.cpp uses
/// (on BMP text, where .NET's UTF-16 matching and code points agree).
/// </summary>
public sealed class PreTokenizerTests
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private const string Llama3Pattern = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2Pattern = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly string[] Alphabet =
    [
        "a", "b", "z", "A", "S", "T", "é", "ß", "Ж", "世", "ﬁ", "s", "t", "re", "LL", "ve", "d", "M",
        "0", "7", "9", "٣", "½", "Ⅷ",
        ".", ",", "!", "'", "'", "(", "¿", "-", "_",
        "$", "+", "<", "=", "^", "`", "|", "~", "©", "€",
        " ", " ", " ", "\t", "\n", "\n", "\r", "\u00A0", "\u3000", "\u2028", "\v", "\u0085",
        "\u0301", "\u0001", "\u200B", "\uE000",
    ];

    public static TheoryData<string> Names() => new() { "gpt-2", "llama3", "qwen2", "default", "starcoder", "falcon" };

    [Theory]
    [MemberData(nameof(Names))]
    public void Split_RandomText_MatchesRegexReference(string name)
    {
        var config = PreTokenizerConfig.Resolve(name);
        var reference = ReferencePasses(name).Select(p => new Regex(p, RegexOptions.CultureInvariant)).ToArray();
        var random = new Random(name.GetHashCode(StringComparison.Ordinal) & 0xFFFF);

        for (var trial = 0; trial < 2000; trial++)
        {
            var sb = new StringBuilder();
            var length = random.Next(1, 24);
            for (var i = 0; i < length; i++)
                sb.Append(Alphabet[random.Next(Alphabet.Length)]);
            var text = sb.ToString();

            var expected = SplitWithRegex(text, reference);
            var actual = Split(text, config.Rules);

            Assert.True(expected.SequenceEqual(actual),
                $"'{VocabTestData.Show(text)}'\nexpected: [{string.Join("|", expected.Select(VocabTestData.Show))}]\nactual:   [{string.Join("|", actual.Select(VocabTestData.Show))}]");
        }
    }

    [Fact]
    public void Split_Llama3_GroupsDigitsByThreeAndKeepsNewlineRuns()
    {
        var words = Split("Hello world 1234567 DON'T\n\n  x", PreTokenizerConfig.Resolve("llama3").Rules);

        Assert.Equal(["Hello", " world", " ", "123", "456", "7", " DON", "'T", "\n\n", " ", " x"], words);
    }

    [Fact]
    public void Split_Qwen2_SplitsEveryDigit()
    {
        var words = Split("a 2024!", PreTokenizerConfig.Resolve("qwen2").Rules);

        Assert.Equal(["a", " ", "2", "0", "2", "4", "!"], words);
    }

    [Fact]
    public void Split_LettersBeyondTheBmp_AreLetters()
    {
        // U+1D518 MATHEMATICAL FRAKTUR CAPITAL U is a letter; .NET's regex would see two surrogates instead.
        var words = Split(" 𝔘𝔫𝔦 x", PreTokenizerConfig.Resolve("gpt-2").Rules);

        Assert.Equal([" 𝔘𝔫𝔦", " x"], words);
    }

    [Fact]
    public void Resolve_UnknownName_FallsBackToLlama3Quietly()
    {
        var config = PreTokenizerConfig.Resolve("some-future-model");

        Assert.False(config.Recognized);
        Assert.Equal([PreTokenizerRule.Llama3], config.Rules);
    }

    private static string[] ReferencePasses(string name) => name switch
    {
        "gpt-2" => [Gpt2Pattern],
        "llama3" => [Llama3Pattern],
        "qwen2" => [Qwen2Pattern],
        "default" => [@"[\p{P}\$\+<=>\^~\|]+", Gpt2Pattern, @"\p{N}+", "[0-9][0-9][0-9]"],
        "starcoder" => [@"\p{N}", Gpt2Pattern],
        "falcon" => [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2Pattern, "[0-9][0-9][0-9]"],
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>llama.cpp's fallback splitting: each pass splits each piece into its matches and the gaps between.</summary>
    private static List<string> SplitWithRegex(string text, Regex[] passes)
    {
        var pieces = new List<string> { text };
        foreach (var regex in passes)
        {
            var next = new List<string>();
            foreach (var piece in pieces)
            {
                var at = 0;
                foreach (Match m in regex.Matches(piece))
                {
                    if (m.Length == 0)
                        continue;
                    if (m.Index > at)
                        next.Add(piece[at..m.Index]);
                    next.Add(m.Value);
                    at = m.Index + m.Length;
                }
                if (at < piece.Length)
                    next.Add(piece[at..]);
            }
            pieces = next;
        }
        return pieces;
    }

    private static List<string> Split(string text, PreTokenizerRule[] rules)
    {
        var cps = new int[text.Length];
        var count = Codepoints.Decode(text, cps);
        var segments = new List<Segment>();
        PreTokenizer.Split(cps.AsSpan(0, count), rules, segments);
        return segments
            .Select(s => string.Concat(cps.Skip(s.Start).Take(s.Length).Select(char.ConvertFromUtf32)))
            .ToList();
    }
}
