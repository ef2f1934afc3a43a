using System.Text;
using Tessera.Generation.Constraints;
using static Tessera.Generation.Tests.Constraints.ByteGrammar;

namespace Tessera.Generation.Tests.Constraints;

public sealed class GbnfTests
{
    [Theory]
    [InlineData("ad", true)]
    [InlineData("abcbd", true)]
    [InlineData("ab", false)]
    [InlineData("d", false)]
    [InlineData("abdd", false)]
    public void LiteralsAlternativesAndStar(string text, bool matches) =>
        Assert.Equal(matches, Matches("root ::= \"a\" (\"b\" | \"c\")* \"d\"", text));

    [Theory]
    [InlineData("1", false)]
    [InlineData("12", true)]
    [InlineData("1234", true)]
    [InlineData("12345", false)]
    public void BoundedRepetition(string text, bool matches) => Assert.Equal(matches, Matches("root ::= [0-9]{2,4}", text));

    [Fact]
    public void PlusOptionalAndOpenRepetition()
    {
        var g = Compile("root ::= \"x\"+ \"y\"? [a-c]{2,}");
        Assert.True(Matches(g, "xab"));
        Assert.True(Matches(g, "xxxyabcabc"));
        Assert.False(Matches(g, "yab"));
        Assert.False(Matches(g, "xa"));
        Assert.False(IsPrefix(g, "xyy"));
    }

    [Fact]
    public void RulesSpanLines_CommentsAreIgnored()
    {
        var g = Compile("""
            # a list of numbers
            root ::= "[" num
                ("," num)* "]"   # more numbers
            num ::= [0-9]+
            """);
        Assert.True(Matches(g, "[1,22,333]"));
        Assert.False(Matches(g, "[1,]"));
    }

    [Fact]
    public void NegatedClassAndDot_TakeWholeUtf8Characters()
    {
        var g = Compile("root ::= [^a]+");
        Assert.True(Matches(g, "é€😀b"));
        Assert.False(IsPrefix(g, "a"));
        // Lone continuation bytes and bytes UTF-8 never uses are refused.
        Assert.True(g.Walk(g.Start, [0x80]).IsDead);
        Assert.True(g.Walk(g.Start, [0xFF]).IsDead);
        // A lead byte waits for its continuation: a prefix, not a match.
        var lead = g.Walk(g.Start, [0xC3]);
        Assert.False(lead.IsDead);
        Assert.False(lead.CanEnd);
        Assert.True(Matches("root ::= ...", "a€😀"));
    }

    [Fact]
    public void NonAsciiRanges_MatchExactlyTheirCodePoints()
    {
        var g = Compile("root ::= [\\u00E0-\\u00FF\\u0400-\\u04FF\\U0001F600-\\U0001F64F]");
        foreach (var cp in new[] { 0x61, 0xDF, 0xE0, 0xE9, 0xFF, 0x100, 0x3FF, 0x400, 0x4FF, 0x500, 0x1F5FF, 0x1F600, 0x1F64F, 0x1F650 })
        {
            var inRange = cp is >= 0xE0 and <= 0xFF or >= 0x400 and <= 0x4FF or >= 0x1F600 and <= 0x1F64F;
            Assert.True(inRange == Matches(g, char.ConvertFromUtf32(cp)), $"U+{cp:X4}");
        }
    }

    [Fact]
    public void Utf8Ranges_CoverEveryCodePointOfARangeAndNothingElse()
    {
        var random = new Random(7);
        for (var trial = 0; trial < 40; trial++)
        {
            var lo = random.Next(0x80, 0x10FFFF);
            var hi = Math.Min(0x10FFFF, lo + random.Next(1, trial % 2 == 0 ? 300 : 200_000));
            var g = Compile($"root ::= [\\U{lo:X8}-\\U{hi:X8}]");
            for (var probe = 0; probe < 60; probe++)
            {
                var cp = probe < 4 ? new[] { lo - 1, lo, hi, hi + 1 }[probe] : random.Next(Math.Max(0x80, lo - 500), Math.Min(0x10FFFF, hi + 500));
                if (cp is >= 0xD800 and <= 0xDFFF or < 0 or > 0x10FFFF)
                    continue;
                var inRange = cp >= lo && cp <= hi;
                Assert.True(inRange == Matches(g, char.ConvertFromUtf32(cp)), $"[{lo:X}-{hi:X}] U+{cp:X}");
            }
        }
    }

    [Fact]
    public void Escapes()
    {
        var g = Compile("root ::= \"\\\"\\n\\t\\\\\" [\\x41-\\x42] \"\\u00e9\"");
        Assert.True(Matches(g, "\"\n\t\\Bé"));
        Assert.False(Matches(g, "\"\n\t\\Cé"));
    }

    [Fact]
    public void TailRepetition_ReturnsToTheSameState()
    {
        // What makes masks cheap: the state inside a repetition is met again, not rebuilt with a deeper stack.
        var g = Compile("root ::= \"a\" \"b\"* \"c\"");
        Assert.Same(After(g, "ab"), After(g, "abbbbbbb"));
        var json = Compile(JsonSchemaGrammar.AnyObject());
        Assert.Same(After(json, "{\"k\": \"x"), After(json, "{\"k\": \"xyzzy and more"));
    }

    [Theory]
    [InlineData("root := \"a\"", "line 1, column 6: expected '::=' after the rule name")]
    [InlineData("root ::= \"a", "expected '\"' to end the string")]
    [InlineData("root ::= (\"a\"\nx ::= \"b\"", "line 2, column 1: expected ')' to close the group")]
    [InlineData("root ::= [a-", "']' to end the character class")]
    [InlineData("root ::= [z-a]", "range whose end is not below its start")]
    [InlineData("root ::= \"a\"{3,1}", "repetition whose maximum (1) is at least its minimum (3)")]
    [InlineData("root ::= \"a\"{99999}", "a repetition count from 0 to 4096")]
    [InlineData("root ::= \"\\q\"", "not '\\q'")]
    [InlineData("root ::= item", "Rule 'item' (line 1, column 10) is used but never defined")]
    [InlineData("item ::= \"a\"", "no rule named 'root'")]
    [InlineData("root ::= \"a\"\nroot ::= \"b\"", "Rule 'root' is defined twice")]
    [InlineData("root ::= root \"a\" | \"b\"", "rule 'root' is left-recursive")]
    [InlineData("root ::= x \"a\"\nx ::= y\ny ::= \"\" | root", "left-recursive")]
    [InlineData("", "The grammar defines no rules")]
    public void BadGrammars_SayWhatIsWrong(string text, string expected)
    {
        var e = Assert.Throws<GrammarException>(() => Gbnf.Parse(text));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void EmptyAlternative_AndRecursionThroughAConsumedCharacter_AreFine()
    {
        var g = Compile("root ::= \"(\" root \")\" root | ");
        Assert.True(Matches(g, ""));
        Assert.True(Matches(g, "(()())()"));
        Assert.False(Matches(g, "(()"));
        Assert.False(IsPrefix(g, "())"));
    }

    [Fact]
    public void Mask_EqualsTheTokensThatWalk_OnAVocabularyWithSharedPrefixes()
    {
        // Tokens that share prefixes exercise the skip over a refused prefix.
        var pieces = new List<byte[]>();
        foreach (var text in new[] { "{", "{\"", "\"", "\",", "\":", "\": ", "true", "tr", "truex", "false", "null", "nul", "1", "12", "123", "1.5",
                     "-", "-1", ",", ", ", " ", "\n", "\n  ", "}", "]", "[", "a", "ab", "abc", "name", "\"name", "\"name\"", "é", "\\", "\\n", "\\u00", "x\"", "\"}" })
            pieces.Add(Encoding.UTF8.GetBytes(text));
        pieces.Add([0xC3]);
        pieces.Add([0xA9]);
        pieces.Add([]);
        var end = pieces.Count;
        pieces.Add([]);
        var vocabulary = new TokenVocabulary([.. pieces], [end]);
        using var doc = System.Text.Json.JsonDocument.Parse("""
            {"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer"},"ok":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string"}}},"required":["name","ok"]}
            """);
        var automaton = new GrammarAutomaton(Gbnf.Parse(JsonSchemaGrammar.ForSchema(doc.RootElement)), vocabulary);
        var document = "{\"name\": \"ab\\né\", \"n\": -12, \"ok\": true, \"tags\": [\"x\", \"abc\"]}";
        var bytes = Encoding.UTF8.GetBytes(document);
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            var state = automaton.Walk(automaton.Start, bytes.AsSpan(0, cut));
            Assert.False(state.IsDead, $"prefix {cut}");
            var mask = automaton.Mask(state);
            for (var id = 0; id < vocabulary.Count; id++)
            {
                var bit = (mask[id >> 6] >> (id & 63) & 1) != 0;
                Assert.True(bit == automaton.Allows(state, id), $"prefix {cut} ({Encoding.UTF8.GetString(bytes, 0, cut)}), token {id}");
            }
        }
        Assert.True(automaton.Walk(automaton.Start, bytes).CanEnd);
    }
    [Fact]
    public void HostileGrammars_FailCleanly_WithoutTakingTheThread()
    {
        // Nesting past the parser's bound is a syntax error, not a stack overflow.
        var deep = "root ::= " + new string('(', 10_000) + "\"a\"" + new string(')', 10_000);
        Assert.Contains("nested at most", Assert.Throws<GrammarException>(() => Gbnf.Parse(deep)).Message);

        // A chain of thousands of empty-matching rules: compiles (no recursion in the checks), and matching it is refused
        // as too deep instead of recursing without bound.
        var chainText = "root ::= (\"a\"?){0,4096} \"b\"";
        Gbnf.Parse(chainText);
        Assert.Contains("more than 512 deep", Assert.Throws<InvalidOperationException>(() => Compile(chainText)).Message);
        Assert.Contains("cannot be used", Assert.Throws<ArgumentException>(() => GrammarCache.ConstraintFor(chainText, Bytes, 0)).Message);

        // Very ambiguous: after n a's, 2^n ways to close them are alive (each level ends in b or c) until the cap says no.
        var ambiguous = Compile("root ::= x\nx ::= \"a\" x \"b\" | \"a\" x \"c\" | ");
        Assert.False(ambiguous.Walk(ambiguous.Start, "aaaa"u8).IsDead);
        Assert.Contains("too ambiguous", Assert.Throws<InvalidOperationException>(() => ambiguous.Walk(ambiguous.Start, "aaaaaaaaaaaaaaaaaaaa"u8)).Message);
    }
}
