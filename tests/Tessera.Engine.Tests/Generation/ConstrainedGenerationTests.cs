using System.Text.Json;
using Tessera.Engine.Generation;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Generation.Constraints;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Generation;

/// <summary>A real model's output constrained by grammars: whatever the weights prefer, the text follows the schema.</summary>
public sealed class ConstrainedGenerationTests : IDisposable
{
    private const string FiniteSchema = """
        {"type": "object",
         "properties": {
           "color": {"enum": ["red", "green", "blue"]},
           "count": {"type": "integer", "minimum": 1, "maximum": 20},
           "ok": {"type": "boolean"},
           "note": {"type": ["null", "boolean"]}
         },
         "required": ["color", "count", "ok", "note"], "additionalProperties": false}
        """;

    private readonly LocalModel _model = LocalModel.Load(TestPaths.Model("tiny-a-q8_0.gguf"), threads: 2);

    public void Dispose() => _model.Dispose();

    private static string Grammar(string schema)
    {
        using var doc = JsonDocument.Parse(schema);
        return JsonSchemaGrammar.ForSchema(doc.RootElement);
    }

    private (string Text, FinishReason? Finish, int[] Ids) Generate(string prompt, SamplingParameters sampling, string grammar, int maxTokens = 200)
    {
        var ids = _model.Tokenizer.Encode(prompt, addSpecial: true);
        var tokens = _model.Generator.Generate(ids, sampling, maxTokens, new GenerationStats(), grammar: grammar).ToList();
        return (string.Concat(tokens.Select(t => t.Text)), tokens[^1].Finish, tokens.Select(t => t.Id).ToArray());
    }

    [Theory]
    [InlineData(0f, 0UL)]
    [InlineData(1f, 1UL)]
    [InlineData(1f, 2UL)]
    [InlineData(1.5f, 3UL)]
    [InlineData(0.7f, 4UL)]
    public void FiniteSchema_EveryOutputIsValidJsonOfTheSchema(float temperature, ulong seed)
    {
        var sampling = new SamplingParameters { Temperature = temperature, Seed = seed, TopK = 0, TopP = 1, MinP = 0 };
        var (text, finish, _) = Generate("Once upon a time", sampling, Grammar(FiniteSchema));

        Assert.Equal(FinishReason.Stop, finish);
        using var doc = JsonDocument.Parse(text);
        var root = doc.RootElement;
        Assert.Equal(["color", "count", "ok", "note"], root.EnumerateObject().Select(p => p.Name));
        Assert.Contains(root.GetProperty("color").GetString(), new[] { "red", "green", "blue" });
        Assert.InRange(root.GetProperty("count").GetInt32(), 1, 20);
        Assert.Contains(root.GetProperty("ok").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
        Assert.Contains(root.GetProperty("note").ValueKind, new[] { JsonValueKind.Null, JsonValueKind.True, JsonValueKind.False });
    }

    [Fact]
    public void OpenStrings_StayValidUntilTheBudgetEnds()
    {
        var grammar = Grammar("""{"type":"object","properties":{"story":{"type":"string"}},"required":["story"]}""");
        var (text, finish, _) = Generate("Tell me a story.", new SamplingParameters { Temperature = 1, Seed = 9 }, grammar, maxTokens: 40);
        var automaton = GrammarCache.Get(grammar, ConstraintVocabulary.For(_model.Tokenizer));
        var state = automaton.Walk(automaton.Start, System.Text.Encoding.UTF8.GetBytes(text));
        // Whether the model closed the string or the budget ran out, the text is a prefix of a valid document.
        Assert.False(state.IsDead, text);
        if (finish == FinishReason.Stop)
            Assert.True(state.CanEnd, text);
        Assert.StartsWith("{", text.TrimStart());
    }

    [Fact]
    public async Task TheServiceAndTheGenerator_GiveTheSameConstrainedTokens()
    {
        using var service = new LocalGenerationService(_model, "tiny");
        var prompt = _model.Tokenizer.Encode("The answer is", addSpecial: true);
        var sampling = new SamplingParameters { Temperature = 1, Seed = 21 };
        var grammar = Grammar(FiniteSchema);
        var expected = _model.Generator.Generate(prompt, sampling, 200, new GenerationStats(), grammar: grammar).Select(t => t.Id).ToArray();

        var actual = new List<int>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var t in service.GenerateAsync("tiny", prompt, new GenerationOptions(sampling, 200) { Grammar = grammar }, timeout.Token))
            actual.Add(t.Id);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ASessionResumedFromItsHistory_SamplesWhatItWouldHave()
    {
        // A pipeline's last stage that takes over a session rebuilds the grammar's state from the replayed history:
        // at every step, a new sampler given the history picks what the one that lived through it picks.
        var grammar = Grammar(FiniteSchema);
        var sampling = new SamplingParameters { Temperature = 1.2f, Seed = 5, TopK = 0, TopP = 1, MinP = 0 };
        var vocabulary = ConstraintVocabulary.For(_model.Tokenizer);
        var prompt = _model.Tokenizer.Encode("Hello", addSpecial: true);
        var vocab = _model.Stage.Config.VocabSize;
        var live = new Sampler(sampling, vocab, GrammarCache.ConstraintFor(grammar, vocabulary, prompt.Length));
        var history = new List<int>(prompt);
        var random = new Random(3);
        var logits = new float[vocab];
        for (var step = 0; step < 200; step++)
        {
            for (var i = 0; i < logits.Length; i++)
                logits[i] = (float)(random.NextDouble() * 8);
            var resumed = new Sampler(sampling, vocab, GrammarCache.ConstraintFor(grammar, vocabulary, prompt.Length));
            var id = live.Sample(logits, history.ToArray(), step);
            Assert.Equal(id, resumed.Sample(logits, history.ToArray(), step));
            history.Add(id);
            if (_model.Tokenizer.IsEndOfGeneration(id))
                break;
        }
        Assert.True(_model.Tokenizer.IsEndOfGeneration(history[^1]), "the finite schema ends within 200 tokens");
        using var doc = JsonDocument.Parse(_model.Tokenizer.Decode(history.Skip(prompt.Length).SkipLast(1).ToArray()));
        Assert.Equal(4, doc.RootElement.EnumerateObject().Count());
    }

    [Fact]
    public void ControlTokens_AreNeverAllowed_AndEndTokensOnlyWhenComplete()
    {
        var vocabulary = ConstraintVocabulary.For(_model.Tokenizer);
        var automaton = GrammarCache.Get(Grammar("""{"type":"boolean"}"""), vocabulary);
        var start = automaton.Mask(automaton.Start);
        var done = automaton.Walk(automaton.Start, "true"u8);
        var end = automaton.Mask(done);
        for (var id = 0; id < _model.Tokenizer.VocabularySize; id++)
        {
            var isEnd = _model.Tokenizer.IsEndOfGeneration(id);
            if (_model.Tokenizer.IsControl(id) && !isEnd)
                Assert.True((start[id >> 6] >> (id & 63) & 1) == 0, $"control token {id}");
            if (isEnd)
            {
                Assert.True((start[id >> 6] >> (id & 63) & 1) == 0);
                Assert.True((end[id >> 6] >> (id & 63) & 1) == 1);
            }
        }
        Assert.True(done.IsFinal);
    }

    [Fact]
    public void AGrammarWithIgnoreEos_IsRefused()
    {
        var options = new GenerationOptions(SamplingParameters.Greedy, 5, IgnoreEndOfGeneration: true) { Grammar = "root ::= \"a\"" };
        Assert.Throws<ArgumentException>(() => GenerationRequest.Validate([1, 2], options, 100, 1000));
        var bad = new GenerationOptions(SamplingParameters.Greedy, 5) { Grammar = "root ::= (" };
        Assert.Contains("The grammar is not valid", Assert.Throws<ArgumentException>(() => GenerationRequest.Validate([1, 2], bad, 100, 1000)).Message);
    }
}
