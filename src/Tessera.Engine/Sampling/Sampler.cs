using System.Numerics.Tensors;
using Tessera.Generation;
using Tessera.Generation.Constraints;

namespace Tessera.Engine.Sampling;

/// <summary>
/// Chooses tokens from logits: penalties, then top-k, top-p, min-p, temperature and a seeded draw.
/// The draw for the n-th token depends only on (seed, n), not on earlier draws, so a session resumed on
/// another machine samples exactly what it would have. Buffers are reused: no allocation per token.
/// <para>
/// With a <see cref="TokenConstraint"/> (a grammar: JSON schema, tool call), the token is drawn as without one and
/// kept when the grammar allows it; otherwise the logits of every token the grammar refuses are masked and the token
/// drawn again (a second, independent draw). Keeping an allowed first draw and redrawing from the masked
/// distribution otherwise is exactly sampling from the masked distribution, and the mask, the costly part, is only
/// computed when needed (and cached per grammar state).
/// </para>
/// </summary>
public sealed class Sampler
{
    private readonly SamplingParameters _parameters;
    private readonly int _vocab;
    private readonly float[] _work;
    private readonly int[] _ids;
    private readonly float[] _probs;
    private readonly float[] _sortKeys;
    private readonly Dictionary<int, int> _counts = new();
    private readonly TokenConstraint? _constraint;

    public Sampler(SamplingParameters parameters, int vocabularySize, TokenConstraint? constraint = null)
    {
        parameters.Validate();
        _parameters = parameters;
        _constraint = constraint;
        _vocab = vocabularySize;
        _work = new float[vocabularySize];
        _ids = new int[vocabularySize];
        _probs = new float[vocabularySize];
        _sortKeys = new float[vocabularySize];
    }

    public SamplingParameters Parameters => _parameters;

    /// <summary>The grammar the output must follow, or null.</summary>
    public TokenConstraint? Constraint => _constraint;

    /// <summary>How many draws the grammar refused, so that the token was drawn again from the masked logits.</summary>
    public int Redraws { get; private set; }

    /// <summary>
    /// Picks the next token. <paramref name="history"/> is the session's tokens so far (for penalties);
    /// <paramref name="step"/> is the index of the token being generated (for the seeded draw).
    /// </summary>
    /// <exception cref="InvalidOperationException">A constrained session's history breaks its grammar, or no token can continue it.</exception>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, long step)
    {
        var p = _parameters;
        var work = _work.AsSpan(0, _vocab);
        logits[.._vocab].CopyTo(work);
        ApplyPenalties(work, history);
        _constraint?.CatchUp(history);

        var id = p.IsGreedy ? TensorPrimitives.IndexOfMax(work) : Draw(work, UniformDraw(p.Seed, step));
        if (_constraint is null || _constraint.Allows(id))
            return id;
        _constraint.Mask(work);
        Redraws++;
        return p.IsGreedy ? TensorPrimitives.IndexOfMax(work) : Draw(work, UniformDraw(p.Seed ^ RedrawSalt, step));
    }

    /// <summary>Makes the redraw after a refused token independent of the first draw.</summary>
    private const ulong RedrawSalt = 0xA0761D6478BD642FUL;

    /// <summary>Top-k, top-p, min-p and temperature over <paramref name="work"/>, then the draw <paramref name="u"/> in [0, 1).</summary>
    private int Draw(Span<float> work, double u)
    {
        var p = _parameters;
        // Candidates sorted by logit, descending, cut to top-k.
        var ids = _ids.AsSpan(0, _vocab);
        var k = p.TopK > 0 ? Math.Min(p.TopK, _vocab) : _vocab;
        var count = SelectTop(work, ids, k, _sortKeys);
        var cand = ids[..count];

        // Softmax over the candidates at temperature 1 for top-p / min-p (as llama.cpp orders them).
        var probs = _probs.AsSpan(0, count);
        var max = work[cand[0]];
        float sum = 0;
        for (var i = 0; i < count; i++)
        {
            probs[i] = MathF.Exp(work[cand[i]] - max);
            sum += probs[i];
        }

        var keep = count;
        if (p.TopP < 1)
        {
            float cumulative = 0;
            for (var i = 0; i < count; i++)
            {
                cumulative += probs[i] / sum;
                if (cumulative >= p.TopP)
                {
                    keep = i + 1;
                    break;
                }
            }
        }

        if (p.MinP > 0)
        {
            var threshold = probs[0] * p.MinP;
            var i = 1;
            while (i < keep && probs[i] >= threshold)
                i++;
            keep = i;
        }

        // Temperature, then draw.
        float total = 0;
        for (var i = 0; i < keep; i++)
        {
            probs[i] = MathF.Exp((work[cand[i]] - max) / p.Temperature);
            total += probs[i];
        }

        var r = (float)(u * total);
        for (var i = 0; i < keep; i++)
        {
            r -= probs[i];
            if (r < 0)
                return cand[i];
        }
        return cand[keep - 1];
    }

    /// <summary>Log-probability of <paramref name="token"/> under the softmax of the raw logits.</summary>
    public static float LogProbability(ReadOnlySpan<float> logits, int token) => logits[token] - LogSumExp(logits);

    public static float LogSumExp(ReadOnlySpan<float> logits)
    {
        var max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (var l in logits)
            sum += Math.Exp(l - max);
        return max + (float)Math.Log(sum);
    }

    /// <summary>The <paramref name="count"/> most likely tokens and their log-probabilities, most likely first.</summary>
    public static (int Id, float LogProb)[] TopLogProbabilities(ReadOnlySpan<float> logits, int count)
    {
        var lse = LogSumExp(logits);
        var ids = new int[logits.Length];
        var n = SelectTop(logits, ids, Math.Min(count, logits.Length), new float[logits.Length]);
        var result = new (int, float)[n];
        for (var i = 0; i < n; i++)
            result[i] = (ids[i], logits[ids[i]] - lse);
        return result;
    }

    /// <summary>A uniform double in [0, 1) from (seed, step) with SplitMix64.</summary>
    public static double UniformDraw(ulong seed, long step)
    {
        var z = seed + 0x9E3779B97F4A7C15UL * (ulong)(step + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    private void ApplyPenalties(Span<float> logits, ReadOnlySpan<int> history)
    {
        var p = _parameters;
        if (p.RepetitionPenalty == 1f && p.FrequencyPenalty == 0f && p.PresencePenalty == 0f)
            return;
        var window = p.PenaltyLastN == 0 ? ReadOnlySpan<int>.Empty : history[Math.Max(0, history.Length - p.PenaltyLastN)..];
        _counts.Clear();
        foreach (var id in window)
        {
            if ((uint)id < (uint)_vocab)
                _counts[id] = _counts.GetValueOrDefault(id) + 1;
        }
        foreach (var (id, count) in _counts)
        {
            ref var l = ref logits[id];
            l = l > 0 ? l / p.RepetitionPenalty : l * p.RepetitionPenalty;
            l -= count * p.FrequencyPenalty + p.PresencePenalty;
        }
    }

    /// <summary>Writes the indices of the k largest values to ids[0..k), largest first (ties: lower id first).</summary>
    private static int SelectTop(ReadOnlySpan<float> values, Span<int> ids, int k, Span<float> sortKeys)
    {
        // Insertion into a small sorted buffer when k is small (the usual 40); a full sort otherwise.
        if (k > 256)
        {
            var keys = sortKeys[..values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                ids[i] = i;
                keys[i] = -values[i];
            }
            keys.Sort(ids[..values.Length]);
            return k;
        }

        var n = 0;
        for (var i = 0; i < values.Length; i++)
        {
            var v = values[i];
            if (n == k && v <= values[ids[n - 1]])
                continue;
            var pos = n < k ? n++ : k - 1;
            while (pos > 0 && values[ids[pos - 1]] < v)
            {
                ids[pos] = ids[pos - 1];
                pos--;
            }
            ids[pos] = i;
        }
        return n;
    }
}
