namespace Tessera.Training.Tests;

/// <summary>
/// The batched pass (all sequences' rows multiplied together, attention within each sequence) against the
/// single-sequence pass, the thread count's (lack of) effect on the results, and the reuse of buffers across steps.
/// </summary>
public sealed class BatchedModelTests
{
    // Shapes that exercise the kernels' tiles and their edges: 4-row tiles with leftover rows (3 sequences of 7),
    // 16- and 8-wide column tiles (dim 24 = 16 + 8) and a scalar tail (hidden 44 = 2·16 + 8 + 4), outputs in pairs and
    // a last one (vocab 37), grouped-query heads on two kv heads.
    private static readonly LlamaConfig Shape = new(Vocab: 37, Dim: 24, Layers: 2, Heads: 4, KvHeads: 2, HiddenDim: 44, RopeBase: 100f);
    private const int Sequences = 3, Length = 7;

    [Fact]
    public void ForwardBackward_EqualsTheMeanOfEachSequencesForwardAndBackward()
    {
        var (tokens, targets) = Batch(seed: 5);
        var model = new LlamaModel(Shape) { Threads = 1 };
        model.Initialize(seed: 21);
        var n = model.Parameters.Length;
        var mean = new double[n];
        var meanLoss = 0.0;
        for (var s = 0; s < Sequences; s++)
        {
            meanLoss += model.Forward(tokens.AsSpan(s * Length, Length), targets.AsSpan(s * Length, Length)) / Sequences;
            model.Backward();
            for (var i = 0; i < n; i++) mean[i] += model.Gradients[i] / (double)Sequences;
        }

        var loss = model.ForwardBackward(tokens, targets, Sequences);

        Assert.Equal(meanLoss, loss, 1e-5 * Math.Abs(meanLoss));
        // Relative per element, with a floor of a tenth of the largest gradient: the batch sums each weight's terms over
        // 21 rows in one f32 chain where the reference sums 7 and averages, so the two differ by f32 rounding of the
        // terms' size (measured: 3e-8 on a gradient of 4e-7 that cancels, 1.2e-7 of the largest gradient, 0.27), which
        // per element without a floor would read as a relative error of 8e-2.
        var floor = 0.1 * mean.Max(Math.Abs);
        var worst = 0.0;
        for (var i = 0; i < n; i++)
            worst = Math.Max(worst, Math.Abs(model.Gradients[i] - mean[i]) / Math.Max(floor, Math.Abs(mean[i])));
        Assert.InRange(worst, 0, 1e-5);
        Assert.Equal(Sequences * Length * Shape.Vocab, model.Logits.Length);
    }

    [Fact]
    public void OneAndTwoThreads_GiveBitwiseTheSameLossAndGradients()
    {
        var (tokens, targets) = Batch(seed: 6);
        float[] Run(int threads, out float loss, out float evaluated)
        {
            var model = new LlamaModel(Shape) { Threads = threads };
            model.Initialize(seed: 22);
            loss = model.ForwardBackward(tokens, targets, Sequences);
            evaluated = model.Evaluate(tokens, targets, Sequences);
            return model.Gradients;
        }

        var one = Run(1, out var loss1, out var eval1);
        var two = Run(2, out var loss2, out var eval2);
        var three = Run(3, out var loss3, out _);

        Assert.Equal(BitConverter.SingleToInt32Bits(loss1), BitConverter.SingleToInt32Bits(loss2));
        Assert.Equal(BitConverter.SingleToInt32Bits(loss1), BitConverter.SingleToInt32Bits(loss3));
        Assert.Equal(BitConverter.SingleToInt32Bits(eval1), BitConverter.SingleToInt32Bits(eval2));
        Assert.Equal(loss1, eval1);
        Assert.True(one.AsSpan().SequenceEqual(two));
        Assert.True(one.AsSpan().SequenceEqual(three));
    }

    [Fact]
    public void ASecondStep_AllocatesNothingOnOneThread_AndRepeatsTheFirst()
    {
        var (tokens, targets) = Batch(seed: 7);
        var model = new LlamaModel(Shape) { Threads = 1 };
        model.Initialize(seed: 23);
        var first = model.ForwardBackward(tokens, targets, Sequences);
        var gradients = (float[])model.Gradients.Clone();
        model.Forward(tokens.AsSpan(0, Length), targets.AsSpan(0, Length)); // a smaller batch in the same buffers

        var before = GC.GetAllocatedBytesForCurrentThread();
        var second = model.ForwardBackward(tokens, targets, Sequences);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(first, second);
        Assert.True(gradients.AsSpan().SequenceEqual(model.Gradients));
    }

    [Fact]
    public void Backward_NeedsAForwardOfItsOwn()
    {
        var (tokens, targets) = Batch(seed: 8);
        var model = new LlamaModel(Shape) { Threads = 1 };
        model.Initialize(seed: 24);
        model.Evaluate(tokens, targets, Sequences);
        Assert.Throws<InvalidOperationException>(model.Backward);
        model.Forward(tokens, targets);
        model.Backward();
        Assert.Throws<InvalidOperationException>(model.Backward);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(5, 3, 7)]
    [InlineData(9, 37, 21)]
    [InlineData(130, 33, 300)]
    [InlineData(70, 40, 28)]
    public void LinearKernels_MatchAPlainLoop(int rows, int inDim, int outDim)
    {
        var rng = new Random(rows * 1000 + inDim);
        var x = GradientCheck.Random(rng, rows * inDim);
        var w = GradientCheck.Random(rng, outDim * inDim);
        var dy = GradientCheck.Random(rng, rows * outDim);
        var y = new float[rows * outDim];
        var dx = GradientCheck.Random(rng, rows * inDim);
        var dw = GradientCheck.Random(rng, outDim * inDim);
        var dx0 = (float[])dx.Clone();
        var dw0 = (float[])dw.Clone();

        Linear.Forward(y, x, w, rows, inDim, outDim);
        Linear.Backward(dx, dw, dy, x, w, rows, inDim, outDim);

        for (var r = 0; r < rows; r++)
            for (var o = 0; o < outDim; o++)
            {
                var sum = 0.0;
                for (var i = 0; i < inDim; i++) sum += (double)x[r * inDim + i] * w[o * inDim + i];
                Assert.Equal(sum, y[r * outDim + o], 1e-4 * Math.Sqrt(inDim));
            }
        for (var r = 0; r < rows; r++)
            for (var i = 0; i < inDim; i++)
            {
                double sum = dx0[r * inDim + i];
                for (var o = 0; o < outDim; o++) sum += (double)dy[r * outDim + o] * w[o * inDim + i];
                Assert.Equal(sum, dx[r * inDim + i], 1e-4 * Math.Sqrt(outDim));
            }
        for (var o = 0; o < outDim; o++)
            for (var i = 0; i < inDim; i++)
            {
                double sum = dw0[o * inDim + i];
                for (var r = 0; r < rows; r++) sum += (double)dy[r * outDim + o] * x[r * inDim + i];
                Assert.Equal(sum, dw[o * inDim + i], 1e-4 * Math.Sqrt(rows));
            }
    }

    private static (int[] Tokens, int[] Targets) Batch(int seed)
    {
        var rng = new Random(seed);
        var tokens = new int[Sequences * Length];
        var targets = new int[tokens.Length];
        for (var i = 0; i < tokens.Length; i++)
        {
            tokens[i] = rng.Next(Shape.Vocab);
            targets[i] = rng.Next(Shape.Vocab);
        }
        return (tokens, targets);
    }
}
