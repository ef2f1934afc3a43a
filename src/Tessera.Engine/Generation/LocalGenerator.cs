using System.Diagnostics;
using System.Runtime.InteropServices;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Engine.Tokenization;
using Tessera.Generation;
using Tessera.Generation.Constraints;

namespace Tessera.Engine.Generation;

/// <summary>
/// Generates text with a whole model in this process: prefill the prompt as matrix-matrix work (in chunks),
/// then decode one token at a time, streaming each token as it is sampled.
/// </summary>
public sealed class LocalGenerator
{
    /// <summary>Prompt tokens per prefill call: bounds scratch memory while keeping matrix products large.</summary>
    public const int PrefillChunk = 512;

    private readonly TransformerStage _stage;
    private readonly Tokenizer _tokenizer;

    public LocalGenerator(TransformerStage stage, Tokenizer tokenizer)
    {
        if (!stage.IsFirst || !stage.IsLast)
            throw new ArgumentException("A local generator needs a stage holding the whole model.", nameof(stage));
        _stage = stage;
        _tokenizer = tokenizer;
    }

    /// <summary>
    /// Generates up to <paramref name="maxTokens"/> tokens after <paramref name="prompt"/>, ending at an
    /// end-of-generation token (<see cref="GenerationLimits"/>). <paramref name="maxTokens"/> 0 only prefills the
    /// prompt (its speed lands in <paramref name="stats"/>). A <paramref name="grammar"/> (GBNF) constrains the output.
    /// </summary>
    public IEnumerable<GeneratedToken> Generate(int[] prompt, SamplingParameters sampling, int maxTokens, GenerationStats stats,
        int topLogProbs = 0, CancellationToken cancellation = default, string? grammar = null)
    {
        var options = new GenerationOptions(sampling, maxTokens == 0 ? 1 : maxTokens, topLogProbs) { Grammar = grammar };
        GenerationRequest.Validate(prompt, options, _stage.ContextLength, Math.Min(_stage.Config.VocabSize, _tokenizer.VocabularySize));
        return Run(prompt, options, maxTokens == 0, stats, cancellation);
    }

    private IEnumerable<GeneratedToken> Run(int[] prompt, GenerationOptions options, bool prefillOnly, GenerationStats stats, CancellationToken cancellation)
    {
        var limits = GenerationLimits.For(prompt.Length, options.MaxTokens, _stage.ContextLength, _tokenizer.EndOfGenerationIds);
        using var cache = _stage.CreateCache(limits.MaxPositions); // freed when the enumeration ends or is abandoned
        var constraint = GrammarCache.ConstraintFor(options.Grammar, options.Grammar is null ? null : ConstraintVocabulary.For(_tokenizer), prompt.Length);
        var sampler = new Sampler(options.Sampling, _stage.Config.VocabSize, constraint);
        var logits = new float[_stage.Config.VocabSize];
        var history = new List<int>(prompt.Length + options.MaxTokens);
        history.AddRange(prompt);
        stats.PromptTokens = prompt.Length;

        var start = Stopwatch.GetTimestamp();
        for (var offset = 0; offset < prompt.Length; offset += PrefillChunk)
        {
            var count = Math.Min(PrefillChunk, prompt.Length - offset);
            _stage.Forward([new BatchSequence(cache, count) { PromptLength = prompt.Length }], prompt.AsSpan(offset, count), default, logits);
            cancellation.ThrowIfCancellationRequested();
        }
        stats.PrefillTime = GenerationStats.Since(start);
        if (prefillOnly)
            yield break;

        var text = new GenerationText(_tokenizer, prompt);
        var decodeStart = Stopwatch.GetTimestamp();
        var token = new int[1];
        for (var step = 0; ; step++)
        {
            if (cancellation.IsCancellationRequested)
            {
                stats.FinishReason = "cancelled";
                yield break;
            }

            var sampleStart = Stopwatch.GetTimestamp();
            var id = sampler.Sample(logits, CollectionsMarshal.AsSpan(history), step);
            stats.SamplingTime += Stopwatch.GetElapsedTime(sampleStart);
            var logProb = Sampler.LogProbability(logits, id);
            var top = options.TopLogProbs > 0 ? Sampler.TopLogProbabilities(logits, options.TopLogProbs) : null;
            history.Add(id);
            stats.GeneratedTokens++;
            var finish = limits.After(id, step + 1, cache.Length);
            if (finish is { } reason)
            {
                stats.FinishReason = reason.ToApiString();
                stats.DecodeTime = GenerationStats.Since(decodeStart);
                stats.GrammarRedraws = sampler.Redraws;
            }
            yield return new GeneratedToken(id, text.Next(id, finish), logProb, top, finish);
            if (finish is not null)
                yield break;

            token[0] = id;
            _stage.Forward([new BatchSequence(cache, 1) { PromptLength = prompt.Length }], token, default, logits);
        }
    }
}
