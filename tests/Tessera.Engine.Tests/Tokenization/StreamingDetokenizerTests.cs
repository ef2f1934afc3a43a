using System.Text;
using Tessera.Engine.Tokenization;

namespace Tessera.Engine.Tests.Tokenization;

public sealed class StreamingDetokenizerTests
{
    public static TheoryData<string, string> Texts()
    {
        var data = new TheoryData<string, string>();
        foreach (var vocab in new[] { VocabTestData.LlamaSpm, VocabTestData.Phi3, VocabTestData.Gpt2 })
        {
            data.Add(vocab, "héllo 世界 🚀");
            data.Add(vocab, " (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ កាន់តែពិសេសអាចខលចេញ");
            data.Add(vocab, "нещо на Български\n\n\tend");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Add_OneIdAtATime_EmitsOnlyWholeCharactersAndConcatenatesToDecode(string vocab, string text)
    {
        // arrange
        var tokenizer = VocabTestData.Tokenizer(vocab);
        var ids = tokenizer.Encode(text, addSpecial: false);
        var stream = new StreamingDetokenizer(tokenizer);
        var all = new StringBuilder();

        // act
        foreach (var id in ids)
        {
            var chunk = stream.Add(id);

            // assert: every chunk is well-formed on its own
            AssertWellFormed(chunk);
            all.Append(chunk);
        }
        all.Append(stream.Flush());

        Assert.Equal(tokenizer.Decode(ids), all.ToString());
        Assert.Equal(text, all.ToString());
    }

    [Fact]
    public void Add_ByteTokensOfOneEmoji_HoldsBackUntilTheLastByte()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        var bytes = new[] { "<0xF0>", "<0x9F>", "<0x9A>", "<0x80>" }.Select(t => Id(tokenizer, t)).ToArray();
        var stream = new StreamingDetokenizer(tokenizer, startOfText: false);

        Assert.Equal("", stream.Add(bytes[0]));
        Assert.Equal("", stream.Add(bytes[1]));
        Assert.Equal("", stream.Add(bytes[2]));
        Assert.Equal("🚀", stream.Add(bytes[3]));
        Assert.Equal("", stream.Flush());
    }

    [Fact]
    public void Flush_WithUnfinishedCharacter_EmitsReplacementAndStartsOver()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        var stream = new StreamingDetokenizer(tokenizer, startOfText: false);

        Assert.Equal("", stream.Add(Id(tokenizer, "<0xE4>")));
        Assert.Equal("\uFFFD", stream.Flush());
        Assert.Equal(" Hello", stream.Add(Id(tokenizer, "▁Hello")));
    }

    [Fact]
    public void Add_InvalidByteFollowedByText_ReplacesOnlyTheInvalidByte()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        var stream = new StreamingDetokenizer(tokenizer, startOfText: false);

        Assert.Equal("", stream.Add(Id(tokenizer, "<0xE4>")));
        Assert.Equal("\uFFFD Hello", stream.Add(Id(tokenizer, "▁Hello")));
    }

    [Fact]
    public void Add_FirstTokenAtStartOfText_DropsSentencePiecePrefixSpaceOnlyOnce()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        var hello = Id(tokenizer, "▁Hello");
        var start = new StreamingDetokenizer(tokenizer, startOfText: true);
        var continuation = new StreamingDetokenizer(tokenizer, startOfText: false);

        Assert.Equal("Hello", start.Add(hello));
        Assert.Equal(" Hello", start.Add(hello));
        Assert.Equal(" Hello", continuation.Add(hello));
        start.Reset();
        Assert.Equal("Hello", start.Add(hello));
    }

    [Fact]
    public void Add_ControlToken_IsSilentUnlessRenderingSpecialTokens()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.Phi3);
        var end = Id(tokenizer, "<|end|>");

        Assert.Equal("", new StreamingDetokenizer(tokenizer, startOfText: false).Add(end));
        Assert.Equal("<|end|>", new StreamingDetokenizer(tokenizer, startOfText: false, renderSpecial: true).Add(end));
    }

    [Fact]
    public void Add_BpeBytesOfCjk_HoldsBackPartialCharacters()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.Gpt2);
        var ids = tokenizer.Encode("世界", addSpecial: false);
        var stream = new StreamingDetokenizer(tokenizer, startOfText: false);

        var chunks = ids.Select(stream.Add).ToList();

        Assert.True(ids.Length > 2, "GPT-2 spells these characters with byte pieces");
        Assert.Contains("", chunks);
        Assert.Equal("世界", string.Concat(chunks));
        Assert.All(chunks, AssertWellFormed);
    }

    [Fact]
    public void Add_PendingBytes_AllocatesNothingUntilACharacterCompletes()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.LlamaSpm);
        var lead = Id(tokenizer, "<0xE4>");
        var continuation = Id(tokenizer, "<0xB8>");
        var last = Id(tokenizer, "<0x96>");
        var stream = new StreamingDetokenizer(tokenizer, startOfText: false);
        stream.Add(lead);
        stream.Add(continuation);
        Assert.Equal("世", stream.Add(last)); // warm up

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            stream.Add(lead);
            stream.Add(continuation);
            stream.Reset();
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    private static int Id(Tokenizer tokenizer, string text)
    {
        Assert.True(tokenizer.TryGetTokenId(text, out var id), $"token '{text}' not in vocabulary");
        return id;
    }

    private static void AssertWellFormed(string chunk)
    {
        Assert.DoesNotContain('\uFFFD', chunk);
        for (var i = 0; i < chunk.Length; i++)
        {
            if (char.IsHighSurrogate(chunk[i]))
            {
                Assert.True(i + 1 < chunk.Length && char.IsLowSurrogate(chunk[i + 1]), "lone high surrogate in chunk");
                i++;
            }
            else
            {
                Assert.False(char.IsLowSurrogate(chunk[i]), "lone low surrogate in chunk");
            }
        }
    }
}
