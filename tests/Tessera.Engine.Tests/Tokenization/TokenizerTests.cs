using System.Diagnostics;
using System.Text;
using Tessera.Engine.Gguf;
using Tessera.Engine.Tokenization;

namespace Tessera.Engine.Tests.Tokenization;

public sealed class TokenizerTests
{
    [Fact]
    public void FromGguf_LlamaSpm_ReadsSpecialTokensAndDefaults()
    {
        var t = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);

        Assert.Equal(TokenizerKind.SentencePiece, t.Kind);
        Assert.Equal(32000, t.VocabularySize);
        Assert.Equal(1, t.BosId);
        Assert.Equal(2, t.EosId);
        Assert.Equal(0, t.UnknownId);
        Assert.Equal(Tokenizer.NoToken, t.EotId);
        Assert.True(t.AddBosByDefault);
        Assert.False(t.AddEosByDefault);
        Assert.True(t.AddSpacePrefix);
        Assert.True(t.IsEndOfGeneration(2));
        Assert.False(t.IsEndOfGeneration(1));
        Assert.False(t.IsEndOfGeneration(Tokenizer.NoToken));
        Assert.Equal(TokenType.Unknown, t.GetTokenType(0));
        Assert.Equal(TokenType.Control, t.GetTokenType(1));
        Assert.Equal(TokenType.Byte, t.GetTokenType(13));
        Assert.Equal(TokenType.Normal, t.GetTokenType(15043));
        Assert.Equal("▁Hello", t.TokenText(15043));
        Assert.Equal(" Hello"u8.ToArray(), t.TokenBytes(15043));
        Assert.Equal(new byte[] { 0x0A }, t.TokenBytes(13));
        Assert.Equal("<s>"u8.ToArray(), t.TokenBytes(1));
        Assert.True(t.PieceBytes(1, renderSpecial: false).IsEmpty);
    }

    [Fact]
    public void FromGguf_Phi3_FindsEndOfTurnAndStopsOnIt()
    {
        var t = VocabTestData.Tokenizer(VocabTestData.Phi3);

        Assert.Equal(32000, t.EosId);
        Assert.Equal(32007, t.EotId); // "<|end|>"
        Assert.True(t.IsEndOfGeneration(32000));
        Assert.True(t.IsEndOfGeneration(32007));
        Assert.False(t.IsEndOfGeneration(32010)); // "<|user|>"
        Assert.Equal(TokenType.UserDefined, t.GetTokenType(2)); // "</s>"
        Assert.Equal(TokenType.Control, t.GetTokenType(32001));
    }

    [Fact]
    public void FromGguf_Gpt2_ReadsBosEosAndDoesNotAddBos()
    {
        var t = VocabTestData.Tokenizer(VocabTestData.Gpt2);

        Assert.Equal(TokenizerKind.BytePairEncoding, t.Kind);
        Assert.Equal(50257, t.VocabularySize);
        Assert.Equal(50256, t.BosId);
        Assert.Equal(50256, t.EosId);
        Assert.Equal(50256, t.EotId);
        Assert.False(t.AddBosByDefault);
        Assert.False(t.AddSpacePrefix);
        Assert.True(t.IsEndOfGeneration(50256));
        Assert.Equal("Ġworld", t.TokenText(995));
        Assert.Equal(" world"u8.ToArray(), t.TokenBytes(995));
    }

    [Fact]
    public void FromGguf_WithoutTokenizerModel_ThrowsNamingTheKey()
    {
        var metadata = new GgufMetadata("synthetic.gguf");

        var e = Assert.Throws<GgufFormatException>(() => Tokenizer.FromGguf(metadata));

        Assert.Contains("tokenizer.ggml.model", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromGguf_UnsupportedTokenizerModel_ThrowsNamingTheModel()
    {
        var metadata = new GgufMetadata("synthetic.gguf");
        metadata.TryAdd("tokenizer.ggml.model", GgufValueType.String, "bert");

        var e = Assert.Throws<GgufFormatException>(() => Tokenizer.FromGguf(metadata));

        Assert.Contains("'bert'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_AddSpecial_PrependsBosOnlyWhereTheModelAsks()
    {
        var spm = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        var gpt2 = VocabTestData.Tokenizer(VocabTestData.Gpt2);

        Assert.Equal(new[] { 1, 15043, 3186 }, spm.Encode("Hello world", addSpecial: true));
        Assert.Equal(new[] { 1 }, spm.Encode("", addSpecial: true));
        Assert.Equal(new[] { 15496, 995 }, gpt2.Encode("Hello world", addSpecial: true));
    }

    [Fact]
    public void Encode_ParseSpecial_SplitsControlTokensOutOfText()
    {
        var spm = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        var gpt2 = VocabTestData.Tokenizer(VocabTestData.Gpt2);

        // After a special token SentencePiece prefixes a space again, as llama.cpp does.
        Assert.Equal(new[] { 1, 15043 }, spm.Encode("<s>Hello", addSpecial: false, parseSpecial: true));
        Assert.DoesNotContain(1, spm.Encode("<s>Hello", addSpecial: false, parseSpecial: false));
        Assert.Equal(new[] { 15496, 50256, 995 }, gpt2.Encode("Hello<|endoftext|> world", addSpecial: false, parseSpecial: true));
        Assert.DoesNotContain(50256, gpt2.Encode("Hello<|endoftext|> world", addSpecial: false));
    }

    [Fact]
    public void Encode_Phi3ChatTurn_SpecialTokensSwallowFollowingWhitespace()
    {
        var phi3 = VocabTestData.Tokenizer(VocabTestData.Phi3);

        var ids = phi3.Encode("<|user|>\nHello<|end|>\n<|assistant|>\n", addSpecial: true, parseSpecial: true);

        // llama.cpp marks Phi-3's special tokens rstrip: the newlines after them vanish.
        Assert.Equal(new[] { 1, 32010, 15043, 32007, 32001 }, ids);
    }

    [Fact]
    public void Encode_Phi3EndOfSequenceText_IsControlLikeInLlamaCpp()
    {
        var phi3 = VocabTestData.Tokenizer(VocabTestData.Phi3);

        // "</s>" is user-defined in the file, but llama.cpp promotes end-of-generation texts to control tokens,
        // so it is only parsed when special tokens are.
        Assert.True(phi3.IsControl(2));
        Assert.Equal(new[] { 15043, 2 }, phi3.Encode("Hello</s>", addSpecial: false, parseSpecial: true));
        Assert.DoesNotContain(2, phi3.Encode("Hello</s>", addSpecial: false));
    }

    [Fact]
    public void Decode_RendersSpecialTokensOnlyWhenAsked()
    {
        var spm = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        int[] ids = [1, 15043, 3186, 2];

        // As llama_detokenize: the leading BOS takes the place of the dropped prefix space.
        Assert.Equal(" Hello world", spm.Decode(ids));
        Assert.Equal("<s> Hello world</s>", spm.Decode(ids, renderSpecial: true));
        Assert.Equal("Hello world", spm.Decode(ids.AsSpan(1, 2)));
    }

    [Fact]
    public void Decode_Gpt2_CleansSpacesBeforePunctuationAsLlamaCpp()
    {
        var gpt2 = VocabTestData.Tokenizer(VocabTestData.Gpt2);

        var ids = gpt2.Encode("Hello , world ! I 'm here . It 's ' ok '", addSpecial: false);

        Assert.Equal("Hello, world! I'm here. It's'ok '", gpt2.Decode(ids));
    }

    [Fact]
    public void Decode_IdOutsideVocabulary_ThrowsNamingTheRange()
    {
        var spm = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => spm.Decode([32000]));

        Assert.Contains("0 to 31999", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(VocabTestData.LlamaSpm)]
    [InlineData(VocabTestData.Gpt2)]
    public void Encode_FourKilobytePrompt_HasNoQuadraticBlowUp(string vocab)
    {
        // arrange: let the JIT settle, then time prompts the word cache has not seen
        var tokenizer = VocabTestData.Tokenizer(vocab);
        for (var seed = 100; seed < 112; seed++)
            tokenizer.Encode(Prompt(seed), addSpecial: true);
        var best = double.MaxValue;

        // act
        for (var seed = 1; seed <= 5; seed++)
        {
            var prompt = Prompt(seed);
            Assert.True(Encoding.UTF8.GetByteCount(prompt) >= 4096);
            var watch = Stopwatch.StartNew();
            var ids = tokenizer.Encode(prompt, addSpecial: true);
            watch.Stop();
            Assert.NotEmpty(ids);
            best = Math.Min(best, watch.Elapsed.TotalMilliseconds);
        }

        // assert: ~2-3 ms here; the bound only catches quadratic behaviour (seconds), not speed on a busy CI machine
        Assert.True(best < 1000, $"best of five took {best:F1} ms");
    }

    private static string Prompt(int seed)
    {
        var random = new Random(seed);
        string[] words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tokenizer", "llama", "Привет", "世界", "🚀", "naïve", "1234567", "don't", "(x)", "\n\n", "  "];
        var sb = new StringBuilder();
        while (Encoding.UTF8.GetByteCount(sb.ToString()) < 4200)
            sb.Append(words[random.Next(words.Length)]).Append(random.Next(3) == 0 ? random.Next(1000).ToString(System.Globalization.CultureInfo.InvariantCulture) : "").Append(' ');
        return sb.ToString();
    }
}
