using static Tessera.Training.Tests.GradientCheck;

namespace Tessera.Training.Tests;

/// <summary>Each layer's backward pass against central finite differences of its forward pass (see <see cref="GradientCheck"/>).</summary>
public sealed class LayerGradientTests
{
    [Fact]
    public void Linear_BackwardMatchesFiniteDifferences()
    {
        var (x, w, dx, dw, loss) = LinearCase(rows: 3, inDim: 4, outDim: 5, seed: 1);

        Assert.InRange(MaxRelativeError(x, dx, loss), 0, Bound);
        Assert.InRange(MaxRelativeError(w, dw, loss), 0, Bound);
    }

    [Fact]
    public void TheCheck_FailsOnAGradientWithTheWrongSign()
    {
        var (_, w, _, dw, loss) = LinearCase(rows: 2, inDim: 3, outDim: 2, seed: 2);

        for (var i = 0; i < dw.Length; i++) dw[i] = -dw[i];

        Assert.True(MaxRelativeError(w, dw, loss) > 0.5);
    }

    /// <summary>Random x and W, their gradients from Linear.Backward, and the loss Σ (x Wᵀ)·r for a random r.</summary>
    private static (float[] X, float[] W, float[] Dx, float[] Dw, Func<double> Loss) LinearCase(int rows, int inDim, int outDim, int seed)
    {
        var rng = new Random(seed);
        var x = Random(rng, rows * inDim);
        var w = Random(rng, outDim * inDim);
        var r = Random(rng, rows * outDim);
        var y = new float[rows * outDim];
        var dx = new float[x.Length];
        var dw = new float[w.Length];
        Linear.Backward(dx, dw, r, x, w, rows, inDim, outDim);
        return (x, w, dx, dw, () => { Linear.Forward(y, x, w, rows, inDim, outDim); return Project(y, r); });
    }

    [Fact]
    public void RmsNorm_BackwardMatchesFiniteDifferences()
    {
        const int rows = 3, dim = 6;
        var rng = new Random(3);
        var x = Random(rng, rows * dim);
        var weight = Random(rng, dim);
        for (var i = 0; i < dim; i++) weight[i] += 1f;
        var r = Random(rng, rows * dim);
        var y = new float[rows * dim];
        var rstd = new float[rows];
        double Loss() { RmsNorm.Forward(y, rstd, x, weight, rows, dim, 1e-5f); return Project(y, r); }

        Loss();
        var dx = new float[x.Length];
        var dWeight = new float[dim];
        RmsNorm.Backward(dx, dWeight, r, x, weight, rstd, rows, dim);

        Assert.InRange(MaxRelativeError(x, dx, Loss), 0, Bound);
        Assert.InRange(MaxRelativeError(weight, dWeight, Loss), 0, Bound);
    }

    [Fact]
    public void SwiGlu_BackwardMatchesFiniteDifferences()
    {
        var rng = new Random(4);
        var gate = Random(rng, 12, scale: 3f);
        var up = Random(rng, 12);
        var r = Random(rng, 12);
        var y = new float[12];
        double Loss() { SwiGlu.Forward(y, gate, up); return Project(y, r); }

        var dGate = new float[12];
        var dUp = new float[12];
        SwiGlu.Backward(dGate, dUp, r, gate, up);

        Assert.InRange(MaxRelativeError(gate, dGate, Loss), 0, Bound);
        Assert.InRange(MaxRelativeError(up, dUp, Loss), 0, Bound);
    }

    [Fact]
    public void Rope_RotatesAdjacentPairsByPositionTimesFrequency()
    {
        // Two positions, one head of dimension 4: pair 0 turns by pos · 1, pair 1 by pos · base^(-1/2) = pos / 10.
        float[] x = [1, 0, 1, 0, /* position 1 */ 1, 0, 0, 1];

        Rope.Forward(x, rows: 2, heads: 1, headDim: 4, thetaBase: 100f);

        float[] expected = [1, 0, 1, 0, MathF.Cos(1), MathF.Sin(1), -MathF.Sin(0.1f), MathF.Cos(0.1f)];
        for (var i = 0; i < x.Length; i++) Assert.Equal(expected[i], x[i], 1e-6f);
    }

    [Fact]
    public void Rope_BackwardMatchesFiniteDifferences()
    {
        const int rows = 4, heads = 2, headDim = 6;
        var rng = new Random(5);
        var x = Random(rng, rows * heads * headDim);
        var r = Random(rng, x.Length);
        var y = new float[x.Length];
        double Loss() { x.CopyTo(y, 0); Rope.Forward(y, rows, heads, headDim, 100f, startPosition: 3); return Project(y, r); }

        var dx = (float[])r.Clone();
        Rope.Backward(dx, rows, heads, headDim, 100f, startPosition: 3);

        Assert.InRange(MaxRelativeError(x, dx, Loss), 0, Bound);
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(4, 2)]
    public void Attention_BackwardMatchesFiniteDifferences(int heads, int kvHeads)
    {
        const int tokens = 4, headDim = 3;
        var rng = new Random(6 + heads);
        var q = Random(rng, tokens * heads * headDim, scale: 1.5f);
        var k = Random(rng, tokens * kvHeads * headDim, scale: 1.5f);
        var v = Random(rng, tokens * kvHeads * headDim);
        var r = Random(rng, tokens * heads * headDim);
        var y = new float[r.Length];
        var probs = new float[heads * tokens * tokens];
        double Loss() { Attention.Forward(y, probs, q, k, v, tokens, heads, kvHeads, headDim); return Project(y, r); }

        Loss();
        var dq = new float[q.Length];
        var dk = new float[k.Length];
        var dv = new float[v.Length];
        Attention.Backward(dq, dk, dv, r, probs, q, k, v, tokens, heads, kvHeads, headDim);

        Assert.InRange(MaxRelativeError(q, dq, Loss), 0, Bound);
        Assert.InRange(MaxRelativeError(k, dk, Loss), 0, Bound);
        Assert.InRange(MaxRelativeError(v, dv, Loss), 0, Bound);
    }

    [Fact]
    public void Attention_IsCausal_TheFirstPositionReadsOnlyItself()
    {
        var rng = new Random(7);
        var q = Random(rng, 3 * 2);
        var k = Random(rng, 3 * 2);
        var v = Random(rng, 3 * 2);
        var y = new float[6];

        Attention.Forward(y, new float[9], q, k, v, tokens: 3, heads: 1, kvHeads: 1, headDim: 2);

        Assert.Equal(v[0], y[0], 1e-6f);
        Assert.Equal(v[1], y[1], 1e-6f);
    }

    [Fact]
    public void Embedding_BackwardMatchesFiniteDifferences()
    {
        const int vocab = 5, dim = 3;
        int[] tokens = [1, 3, 1, 0];
        var rng = new Random(8);
        var table = Random(rng, vocab * dim);
        var r = Random(rng, tokens.Length * dim);
        var y = new float[r.Length];
        double Loss() { Embedding.Forward(y, tokens, table, dim); return Project(y, r); }

        var dTable = new float[table.Length];
        Embedding.Backward(dTable, r, tokens, dim);

        Assert.InRange(MaxRelativeError(table, dTable, Loss), 0, Bound);
    }

    [Fact]
    public void CrossEntropy_IsTheMeanNegativeLogProbability_AndItsBackwardMatchesFiniteDifferences()
    {
        const int vocab = 5;
        int[] targets = [2, 0, 4];
        var rng = new Random(9);
        var logits = Random(rng, targets.Length * vocab, scale: 2f);
        var probs = new float[logits.Length];
        double Loss() => CrossEntropy.Forward(probs, logits, targets, vocab);

        var expected = 0.0;
        for (var t = 0; t < targets.Length; t++)
        {
            var row = logits.AsSpan(t * vocab, vocab).ToArray().Select(l => (double)l).ToArray();
            expected -= row[targets[t]] - Math.Log(row.Sum(Math.Exp));
        }
        Assert.Equal(expected / targets.Length, Loss(), 1e-5);

        var dLogits = new float[logits.Length];
        CrossEntropy.Backward(dLogits, probs, targets, vocab);

        Assert.InRange(MaxRelativeError(logits, dLogits, Loss), 0, Bound);
    }
}
