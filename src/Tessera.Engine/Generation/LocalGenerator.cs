using System.Diagnostics;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Engine.Tokenization;

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

    /// <summary>Generates up to <paramref name="maxTokens"/> tokens after <paramref name="prompt"/>.</summary>
    public IEnumerable<GeneratedToken> Generate(int[] prompt, SamplingParameters sampling, int maxTokens, GenerationStats stats,
        int topLogProbs = 0, CancellationToken cancellation = default)
    {
        if (prompt.Length == 0)
            throw new ArgumentException("The prompt has no tokens.", nameof(prompt));
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokens);
        var vocab = _stage.Config.VocabSize;
        if (prompt.Length + 1 > _stage.ContextLength)
            throw new ContextFullException(prompt.Length + 1, _stage.ContextLength);

        var cache = _stage.CreateCache(Math.Min(_stage.ContextLength, prompt.Length + maxTokens));
        var sampler = new Sampler(sampling, vocab);
        var logits = new float[vocab];
        var history = new List<int>(prompt.Length + maxTokens);
        history.AddRange(prompt);
        stats.PromptTokens = prompt.Length;

        var start = Stopwatch.GetTimestamp();
        for (var offset = 0; offset < prompt.Length; offset += PrefillChunk)
        {
            var count = Math.Min(PrefillChunk, prompt.Length - offset);
            _stage.Forward([new BatchSequence(cache, count)], prompt.AsSpan(offset, count), default, logits);
            cancellation.ThrowIfCancellationRequested();
        }
        stats.PrefillTime = GenerationStats.Since(start);

        var detokenizer = new StreamingDetokenizer(_tokenizer);
        var decodeStart = Stopwatch.GetTimestamp();
        var token = new int[1];
        for (var step = 0; step < maxTokens; step++)
        {
            if (cancellation.IsCancellationRequested)
            {
                stats.FinishReason = "cancelled";
                yield break;
            }

            var id = sampler.Sample(logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history), step);
            var logProb = Sampler.LogProbability(logits, id);
            var top = topLogProbs > 0 ? Sampler.TopLogProbabilities(logits, topLogProbs) : null;
            history.Add(id);
            stats.GeneratedTokens++;
            if (_tokenizer.IsEndOfGeneration(id))
            {
                stats.FinishReason = "stop";
                stats.DecodeTime = GenerationStats.Since(decodeStart);
                var tail = detokenizer.Flush();
                yield return new GeneratedToken(id, tail, logProb, top);
                yield break;
            }

            var text = detokenizer.Add(id);
            var last = step == maxTokens - 1 || cache.Length + 1 > cache.MaxTokens;
            if (last)
                text += detokenizer.Flush();
            yield return new GeneratedToken(id, text, logProb, top);
            if (last)
                break;

            token[0] = id;
            _stage.Forward([new BatchSequence(cache, 1)], token, default, logits);
        }
        stats.DecodeTime = GenerationStats.Since(decodeStart);
        stats.FinishReason = "length";
    }
}
