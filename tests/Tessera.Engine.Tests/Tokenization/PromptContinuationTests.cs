using System.Text;
using Tessera.Engine.Tokenization;

namespace Tessera.Engine.Tests.Tokenization;

/// <summary>
/// The text streamed after a prompt continues the prompt's text: the decode of the prompt followed by the chunks is
/// the decode of the prompt and the generated ids, for every vocabulary in the test data (SentencePiece's leading
/// space stays on the first generated word; GPT-2's clean-up of spaces before punctuation is applied as decoding does).
/// </summary>
public sealed class PromptContinuationTests
{
    public static TheoryData<string> Vocabularies() => [VocabTestData.LlamaSpm, VocabTestData.Phi3, VocabTestData.Gpt2];

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void AfterPrompt_FirstWordKeepsItsSpace_AndPromptPlusChunksIsTheDecodeOfAllIds(string vocab)
    {
        var tokenizer = VocabTestData.Tokenizer(vocab);
        var prompt = tokenizer.Encode("Hello world! 🦙 Привет", addSpecial: true);
        var whole = tokenizer.Encode("Hello world! 🦙 Привет dup inferior accepted, Via. It 's done", addSpecial: true);
        Assert.Equal(prompt, whole[..prompt.Length]);
        var generated = whole[prompt.Length..];

        var streamed = Stream(tokenizer, prompt, generated);

        Assert.StartsWith(" dup", streamed, StringComparison.Ordinal);
        Assert.Equal(tokenizer.Decode([.. prompt, .. generated]), tokenizer.Decode(prompt) + streamed);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void AfterPrompt_RandomIds_ConcatenateToTheDecodeOfPromptAndGeneration(string vocab)
    {
        // Ids drawn from the whole vocabulary and, more often, from pieces that exercise the hard cases: spaces,
        // punctuation and quotes (clean-up), bytes of multi-byte characters, control tokens.
        var tokenizer = VocabTestData.Tokenizer(vocab);
        string[] hard = [" ", "  ", "'", " '", "' ", ",", ".", "?", "!", " ,", " .", "s", "m", "re", "ve", "'s", "a", " a"];
        var interesting = Enumerable.Range(0, tokenizer.VocabularySize).Where(id =>
        {
            var piece = tokenizer.PieceBytes(id, renderSpecial: false);
            return tokenizer.IsControl(id) || (piece.Length == 1 && piece[0] >= 0x80) || hard.Contains(Encoding.UTF8.GetString(piece));
        }).ToArray();
        var random = new Random(1234);
        int Draw() => random.Next(3) == 0 ? random.Next(tokenizer.VocabularySize) : interesting[random.Next(interesting.Length)];

        var checkedCases = 0;
        for (var trial = 0; trial < 2000; trial++)
        {
            var prompt = Enumerable.Range(0, random.Next(0, 6)).Select(_ => Draw()).ToArray();
            var generated = Enumerable.Range(0, random.Next(1, 24)).Select(_ => Draw()).ToArray();
            var before = tokenizer.Decode(prompt);
            var all = tokenizer.Decode([.. prompt, .. generated]);
            // What a continuation cannot do: change the prompt's own text (a space it ended with that decoding cleans
            // away, or a character split between the prompt and the generation, which the prompt's decode shows as U+FFFD).
            if (!all.StartsWith(before, StringComparison.Ordinal) || EndsMidCharacter(tokenizer, prompt))
                continue;
            checkedCases++;

            Assert.Equal(all, before + Stream(tokenizer, prompt, generated));
        }
        Assert.True(checkedCases > 1500, $"only {checkedCases} cases kept the prompt's text");
    }

    [Fact]
    public void Gpt2_SpaceBeforePunctuation_IsHeldBackUntilDecided()
    {
        var tokenizer = VocabTestData.Tokenizer(VocabTestData.Gpt2);
        var prompt = tokenizer.Encode("Say", addSpecial: false);
        var stream = StreamingDetokenizer.AfterPrompt(tokenizer, prompt);
        var hello = tokenizer.Encode(" hello", addSpecial: false);
        var space = tokenizer.Encode(" ", addSpecial: false);
        var comma = tokenizer.Encode(",", addSpecial: false);

        Assert.Equal(" hello", string.Concat(hello.Select(stream.Add)));
        Assert.Equal("", string.Concat(space.Select(stream.Add))); // a space before "," is dropped by decoding
        Assert.Equal(",", string.Concat(comma.Select(stream.Add)));
        Assert.Equal("", stream.Flush());
        Assert.Equal("Say hello,", tokenizer.Decode([.. prompt, .. hello, .. space, .. comma]));
    }

    [Fact]
    public void SpaceCleanup_DropsWhatLlamaCppDrops()
    {
        Assert.Equal("Hi, you. Well? Yes! it's I'm we're they've a'b", Clean("Hi , you . Well ? Yes ! it 's I 'm we 're they 've a ' b"));
        Assert.Equal(" leading and trailing ", Clean(" leading and trailing "));
    }

    private static string Clean(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var length = SpaceCleanup.Apply(bytes, new int[bytes.Length]);
        return Encoding.UTF8.GetString(bytes, 0, length);
    }

    private static bool EndsMidCharacter(Tokenizer tokenizer, int[] prompt)
    {
        var bytes = prompt.SelectMany(id => tokenizer.PieceBytes(id, renderSpecial: false).ToArray()).ToArray();
        return Encoding.UTF8.GetDecoder().GetCharCount(bytes, flush: false) != Encoding.UTF8.GetDecoder().GetCharCount(bytes, flush: true);
    }

    private static string Stream(Tokenizer tokenizer, int[] prompt, int[] generated)
    {
        var stream = StreamingDetokenizer.AfterPrompt(tokenizer, prompt);
        var text = new StringBuilder();
        foreach (var id in generated)
            text.Append(stream.Add(id));
        return text.Append(stream.Flush()).ToString();
    }
}
