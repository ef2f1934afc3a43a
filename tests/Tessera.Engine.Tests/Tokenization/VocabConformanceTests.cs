using System.Text;
using Tessera.Engine.Tokenization;

namespace Tessera.Engine.Tests.Tokenization;

/// <summary>Every string of llama.cpp's vocab test files encodes to exactly the ids llama.cpp produced.</summary>
public sealed class VocabConformanceTests
{
    public static TheoryData<string, int> Cases => VocabTestData.AllCases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encode_VocabTestString_MatchesLlamaCppIds(string vocab, int index)
    {
        var tokenizer = VocabTestData.Tokenizer(vocab);
        var (text, expected) = VocabTestData.Load(vocab)[index];

        var actual = tokenizer.Encode(text, addSpecial: false);

        Assert.True(expected.AsSpan().SequenceEqual(actual),
            $"'{VocabTestData.Show(text)}'\nexpected: {string.Join(' ', expected)}\nactual:   {string.Join(' ', actual)}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PieceBytes_OfEncodedString_ConcatenateToItsUtf8(string vocab, int index)
    {
        var tokenizer = VocabTestData.Tokenizer(vocab);
        var (text, _) = VocabTestData.Load(vocab)[index];

        var ids = tokenizer.Encode(text, addSpecial: false);
        var bytes = ids.SelectMany(tokenizer.TokenBytes).ToArray();

        var expected = tokenizer.AddSpacePrefix && text.Length > 0 ? " " + text : text;
        Assert.Equal(expected, Encoding.UTF8.GetString(bytes));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_OfExpectedIds_RoundTripsUnlessSpacesAreCleaned(string vocab, int index)
    {
        var tokenizer = VocabTestData.Tokenizer(vocab);
        var (text, expected) = VocabTestData.Load(vocab)[index];

        var decoded = tokenizer.Decode(expected);

        // GPT-2's decoding removes spaces before punctuation and contractions, as llama.cpp's clean_spaces does.
        if (tokenizer.Kind == TokenizerKind.BytePairEncoding && HasCleanedPattern(text))
            Assert.NotEqual(text, decoded);
        else
            Assert.Equal(text, decoded);
    }

    private static bool HasCleanedPattern(string text) =>
        new[] { " ?", " !", " .", " ,", " ' ", " 's", " 'm", " 're", " 've" }.Any(p => text.Contains(p, StringComparison.Ordinal));
}
