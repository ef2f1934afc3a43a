using Tessera.Engine.Gguf;
using Tessera.Engine.Tokenization;

namespace Tessera.Engine.Tests.Tokenization;

/// <summary>Behaviour the shared vocab files do not reach, on small vocabularies built in memory.</summary>
public sealed class SyntheticVocabularyTests
{
    [Fact]
    public void Llama3_WholeWordInVocabulary_SkipsMergesAndAddsBosByDefault()
    {
        // arrange: the byte alphabet, "Hello" (reachable by no merge) and a control BOS
        var tokens = Enumerable.Range(0, 256).Select(b => ByteAlphabet((byte)b)).Append("Hello").Append("<|begin_of_text|>").ToArray();
        var tokenizer = Bpe("llama3", tokens, merges: [], bos: 257, controlIds: [257]);

        // act
        var ids = tokenizer.Encode("Hello Hello", addSpecial: true);

        // assert: "Hello" whole; " Hello" is not a token and no merge applies, so it stays bytes (token i is byte i)
        Assert.True(tokenizer.AddBosByDefault);
        Assert.Equal(new[] { 257, 256, ' ', 'H', 'e', 'l', 'l', 'o' }, ids);
        Assert.Equal("Hello Hello", tokenizer.Decode(ids));
    }

    [Fact]
    public void Qwen2_MergesByRankAndDoesNotAddBos()
    {
        var tokens = Enumerable.Range(0, 256).Select(b => ByteAlphabet((byte)b)).Concat(["ab", "abc", "bc"]).ToArray();
        // "b c" ranks before "a b": "abc" becomes "a" + "bc", and "a bc" is no merge.
        var tokenizer = Bpe("qwen2", tokens, merges: ["b c", "a b", "ab c"], bos: Tokenizer.NoToken, controlIds: []);

        var ids = tokenizer.Encode("abc", addSpecial: true);

        Assert.False(tokenizer.AddBosByDefault);
        Assert.Equal(new[] { 'a', 258 }, ids);
    }

    [Fact]
    public void UnknownPreTokenizer_EncodesWithoutError()
    {
        var tokens = Enumerable.Range(0, 256).Select(b => ByteAlphabet((byte)b)).ToArray();
        var tokenizer = Bpe("brand-new-model", tokens, merges: [], bos: Tokenizer.NoToken, controlIds: []);

        var ids = tokenizer.Encode("hi 42", addSpecial: false);

        Assert.Equal("hi 42", tokenizer.Decode(ids));
    }

    [Fact]
    public void SentencePiece_UserDefinedToken_IsSplitOutWithoutParseSpecial()
    {
        string[] tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "<tool>", "▁a", .. Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>")];
        int[] types = [2, 3, 3, 1, 1, 1, 4, 1, .. Enumerable.Repeat(6, 256)];
        var metadata = new GgufMetadata("synthetic-spm.gguf");
        metadata.TryAdd("tokenizer.ggml.model", GgufValueType.String, "llama");
        metadata.TryAdd("tokenizer.ggml.tokens", GgufValueType.Array, new GgufArray(GgufValueType.String, tokens));
        metadata.TryAdd("tokenizer.ggml.token_type", GgufValueType.Array, new GgufArray(GgufValueType.Int32, types));
        metadata.TryAdd("tokenizer.ggml.scores", GgufValueType.Array, new GgufArray(GgufValueType.Float32, new float[tokens.Length]));
        var tokenizer = Tokenizer.FromGguf(metadata);

        var ids = tokenizer.Encode("a<tool>b", addSpecial: false);

        // "▁a", then the user-defined token, then "▁b" is no token: "▁" and "b"; "é" would fall back to bytes.
        Assert.Equal(new[] { 7, 6, 3, 5 }, ids);
        Assert.Equal(new[] { 7, 8 + 0xC3, 8 + 0xA9 }, tokenizer.Encode("aé", addSpecial: false));
    }

    private static string ByteAlphabet(byte b) => ((char)ByteToChar(b)).ToString();

    private static int ByteToChar(byte b)
    {
        var next = 256;
        for (var i = 0; i < 256; i++)
        {
            var printable = i is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            var c = printable ? i : next++;
            if (i == b)
                return c;
        }
        throw new ArgumentOutOfRangeException(nameof(b));
    }

    private static Tokenizer Bpe(string pre, string[] tokens, string[] merges, int bos, int[] controlIds)
    {
        var types = tokens.Select((_, i) => controlIds.Contains(i) ? 3 : 1).ToArray();
        var metadata = new GgufMetadata("synthetic-bpe.gguf");
        metadata.TryAdd("tokenizer.ggml.model", GgufValueType.String, "gpt2");
        metadata.TryAdd("tokenizer.ggml.pre", GgufValueType.String, pre);
        metadata.TryAdd("tokenizer.ggml.tokens", GgufValueType.Array, new GgufArray(GgufValueType.String, tokens));
        metadata.TryAdd("tokenizer.ggml.token_type", GgufValueType.Array, new GgufArray(GgufValueType.Int32, types));
        metadata.TryAdd("tokenizer.ggml.merges", GgufValueType.Array, new GgufArray(GgufValueType.String, merges));
        if (bos != Tokenizer.NoToken)
            metadata.TryAdd("tokenizer.ggml.bos_token_id", GgufValueType.UInt32, (uint)bos);
        return Tokenizer.FromGguf(metadata);
    }
}
