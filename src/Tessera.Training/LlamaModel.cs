using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Tessera.Training;

/// <summary>The shape of a Llama model to train.</summary>
/// <param name="Vocab">The number of tokens.</param>
/// <param name="Dim">The embedding (residual stream) width.</param>
/// <param name="Layers">The number of transformer blocks.</param>
/// <param name="Heads">Query heads; <paramref name="Dim"/> is a multiple of it.</param>
/// <param name="KvHeads">Key/value heads; <paramref name="Heads"/> is a multiple of it.</param>
/// <param name="HiddenDim">The feed-forward width.</param>
/// <param name="RopeBase">RoPE's frequency base.</param>
/// <param name="NormEpsilon">RMSNorm's ε.</param>
public sealed record LlamaConfig(
    int Vocab, int Dim, int Layers, int Heads, int KvHeads, int HiddenDim, float RopeBase = 10000f, float NormEpsilon = 1e-5f)
{
    /// <summary>The width of one head.</summary>
    public int HeadDim => Dim / Heads;
}

/// <summary>
/// A Llama-shaped model in f32 with its forward and backward passes: token embedding; per block
/// x += Wo · attention(rope(Wq·n), rope(Wk·n), Wv·n) with n = RMSNorm(x), then x += Wdown · (silu(Wgate·n) ⊙ Wup·n) with
/// n = RMSNorm(x); a final RMSNorm and the output head; cross-entropy against the next tokens. All parameters live in
/// one flat vector (<see cref="Parameters"/>, the order of <see cref="Offsets"/>), and so do their gradients, so an
/// optimizer or an exchange sees one array.
/// </summary>
public sealed class LlamaModel : ITrainableModel
{
    private readonly LlamaConfig _c;
    private Activations? _a;
    private int _sequences, _length; // the batch the activations hold; 0 when there is none
    private bool _backwardReady;
    private int _threads = Environment.ProcessorCount;
    private float[] _ropeCos = [], _ropeSin = [];
    private int _ropePositions;

    /// <summary>Creates a model with zeroed parameters; call <see cref="Initialize"/> for random ones.</summary>
    public LlamaModel(LlamaConfig config)
    {
        if (config.Dim % config.Heads != 0 || config.Heads % config.KvHeads != 0 || config.HeadDim % 2 != 0)
            throw new ArgumentException("Dim must be a multiple of Heads, Heads of KvHeads, and the head width even.", nameof(config));
        _c = config;
        Offsets = new ParameterOffsets(config);
        Parameters = new float[Offsets.Count];
        Gradients = new float[Offsets.Count];
    }

    /// <summary>The model's shape.</summary>
    public LlamaConfig Config => _c;

    /// <summary>Where each tensor sits in <see cref="Parameters"/>.</summary>
    public ParameterOffsets Offsets { get; }

    /// <summary>All parameters, flat.</summary>
    public float[] Parameters { get; }

    /// <summary>The gradients of the last <see cref="Backward"/>, laid out as <see cref="Parameters"/>.</summary>
    public float[] Gradients { get; }

    /// <summary>
    /// How many threads a pass may use (default: the processor count). 1 runs everything on the calling thread. The
    /// work is split into tasks that do not depend on this number and every sum keeps its order, so the loss and the
    /// gradients are bitwise the same for any value.
    /// </summary>
    public int Threads
    {
        get => _threads;
        set => _threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "At least one thread.");
    }

    /// <summary>The logits [tokens, vocab] of the last <see cref="Forward"/> or <see cref="ForwardBackward"/>
    /// (to compare with an inference engine).</summary>
    public ReadOnlySpan<float> Logits =>
        _a is { } a && _sequences > 0 ? a.Logits.AsSpan(0, _sequences * _length * _c.Vocab) : throw new InvalidOperationException("Logits need a Forward first.");

    /// <summary>Norm weights 1, matrices uniform in ±<paramref name="scale"/> / √(fan-in), from a seeded generator.</summary>
    public void Initialize(int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        void Fill(int offset, int rows, int cols)
        {
            var bound = scale / MathF.Sqrt(cols);
            for (var i = 0; i < rows * cols; i++) Parameters[offset + i] = (float)(rng.NextDouble() * 2 - 1) * bound;
        }
        var o = Offsets;
        Fill(o.TokenEmbedding, _c.Vocab, _c.Dim);
        for (var l = 0; l < _c.Layers; l++)
        {
            var b = o.Blocks[l];
            Parameters.AsSpan(b.AttentionNorm, _c.Dim).Fill(1f);
            Parameters.AsSpan(b.FeedForwardNorm, _c.Dim).Fill(1f);
            Fill(b.Wq, _c.Heads * _c.HeadDim, _c.Dim);
            Fill(b.Wk, _c.KvHeads * _c.HeadDim, _c.Dim);
            Fill(b.Wv, _c.KvHeads * _c.HeadDim, _c.Dim);
            Fill(b.Wo, _c.Dim, _c.Heads * _c.HeadDim);
            Fill(b.WGate, _c.HiddenDim, _c.Dim);
            Fill(b.WUp, _c.HiddenDim, _c.Dim);
            Fill(b.WDown, _c.Dim, _c.HiddenDim);
        }
        Parameters.AsSpan(o.FinalNorm, _c.Dim).Fill(1f);
        Fill(o.Output, _c.Vocab, _c.Dim);
    }

    /// <summary>The mean cross-entropy of predicting <paramref name="targets"/>[t] from <paramref name="tokens"/>[0..t];
    /// keeps the activations for <see cref="Backward"/>. The same as <see cref="ForwardBackward"/>'s forward with one
    /// sequence.</summary>
    public float Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets)
    {
        if (tokens.Length != targets.Length || tokens.Length == 0) throw new ArgumentException("One target per token, at least one.", nameof(targets));
        return RunForward(tokens, targets, 1);
    }

    /// <inheritdoc/>
    /// <remarks>One pass over all sequences at once: the linear layers and the head multiply all B·T rows together,
    /// attention stays within each sequence. Activation and gradient buffers are kept for the largest batch seen.</remarks>
    public float ForwardBackward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences)
    {
        SequenceLength(tokens, targets, sequences);
        var loss = RunForward(tokens, targets, sequences);
        Backward();
        return loss;
    }

    /// <inheritdoc/>
    public float Evaluate(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences)
    {
        SequenceLength(tokens, targets, sequences);
        var loss = RunForward(tokens, targets, sequences);
        _backwardReady = false;
        _sequences = 0;
        return loss;
    }

    /// <summary>Overwrites <see cref="Gradients"/> with the gradient of the last <see cref="Forward"/>'s loss (once:
    /// it turns the saved probabilities into the logits' gradient in place).</summary>
    public void Backward()
    {
        if (!_backwardReady || _a is not { } a) throw new InvalidOperationException("Backward needs a Forward first.");
        _backwardReady = false;
        int B = _sequences, T = _length, N = B * T, D = _c.Dim, hd = _c.HeadDim, qDim = _c.Heads * hd, kvDim = _c.KvHeads * hd, F = _c.HiddenDim;
        int V = _c.Vocab, threads = _threads;
        ReadOnlySpan<float> p = Parameters;
        var g = Gradients.AsSpan();
        g.Clear();

        var dLogits = a.Probs; // the softmax becomes (p − onehot) / N in place
        Parallelism.For(threads, Blocks(N), new CrossEntropyJob { Probs = a.Probs, Targets = a.Targets, Rows = N, Vocab = V, Backward = true });
        var dNormed = Cleared(a.DNormed, N * D);
        Linear.Backward(dNormed, g.Slice(Offsets.Output, V * D), dLogits, a.FinalNormed, p.Slice(Offsets.Output, V * D), N, D, V, threads);
        var dx = Cleared(a.DResidual, N * D); // the gradient w.r.t. the residual stream after the block being undone
        RmsNorm.Backward(dx, g.Slice(Offsets.FinalNorm, D), dNormed, a.Residual[_c.Layers], p.Slice(Offsets.FinalNorm, D), a.FinalRstd, N, D);

        var dMiddle = a.DMiddle.AsSpan(0, N * D);
        for (var l = _c.Layers - 1; l >= 0; l--)
        {
            var b = Offsets.Blocks[l];
            var s = a.Blocks[l];
            var dGated = Cleared(a.DGated, N * F);
            Cleared(a.DGate, N * F);
            Cleared(a.DUp, N * F);
            Cleared(a.DNormed, N * D);
            Linear.Backward(dGated, g.Slice(b.WDown, D * F), dx, s.Gated, p.Slice(b.WDown, D * F), N, F, D, threads);
            SwiGlu.Backward(a.DGate, a.DUp, a.DGated, s.Gate, s.Up, N * F, threads);
            Linear.Backward(dNormed, g.Slice(b.WGate, F * D), a.DGate.AsSpan(0, N * F), s.Norm2, p.Slice(b.WGate, F * D), N, D, F, threads);
            Linear.Backward(dNormed, g.Slice(b.WUp, F * D), a.DUp.AsSpan(0, N * F), s.Norm2, p.Slice(b.WUp, F * D), N, D, F, threads);
            dx.CopyTo(dMiddle); // the residual path
            RmsNorm.Backward(dMiddle, g.Slice(b.FeedForwardNorm, D), dNormed, s.Middle, p.Slice(b.FeedForwardNorm, D), s.Rstd2, N, D);

            var dAttended = Cleared(a.DAttended, N * qDim);
            var dQ = Cleared(a.DQ, N * qDim);
            var dK = Cleared(a.DK, N * kvDim);
            var dV = Cleared(a.DV, N * kvDim);
            dNormed.Clear();
            Linear.Backward(dAttended, g.Slice(b.Wo, D * qDim), dMiddle, s.Attended, p.Slice(b.Wo, D * qDim), N, qDim, D, threads);
            Parallelism.For(threads, B * _c.KvHeads, new AttentionJob(_c, s, a, T, backward: true));
            for (var q = 0; q < B; q++)
            {
                Rope.Rotate(dQ.Slice(q * T * qDim, T * qDim), T, _c.Heads, hd, _ropeCos, _ropeSin, 0, -1f);
                Rope.Rotate(dK.Slice(q * T * kvDim, T * kvDim), T, _c.KvHeads, hd, _ropeCos, _ropeSin, 0, -1f);
            }
            Linear.Backward(dNormed, g.Slice(b.Wq, qDim * D), dQ, s.Norm1, p.Slice(b.Wq, qDim * D), N, D, qDim, threads);
            Linear.Backward(dNormed, g.Slice(b.Wk, kvDim * D), dK, s.Norm1, p.Slice(b.Wk, kvDim * D), N, D, kvDim, threads);
            Linear.Backward(dNormed, g.Slice(b.Wv, kvDim * D), dV, s.Norm1, p.Slice(b.Wv, kvDim * D), N, D, kvDim, threads);
            dMiddle.CopyTo(dx); // the residual path
            RmsNorm.Backward(dx, g.Slice(b.AttentionNorm, D), dNormed, a.Residual[l], p.Slice(b.AttentionNorm, D), s.Rstd1, N, D);
        }
        Embedding.Backward(g.Slice(Offsets.TokenEmbedding, V * D), dx, a.Tokens.AsSpan(0, N), D);
    }

    /// <summary>The forward pass over <paramref name="sequences"/> sequences laid end to end; returns the mean loss
    /// over all positions and keeps what <see cref="Backward"/> needs.</summary>
    private float RunForward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences)
    {
        int N = tokens.Length, T = N / sequences, D = _c.Dim, hd = _c.HeadDim, qDim = _c.Heads * hd, kvDim = _c.KvHeads * hd;
        int F = _c.HiddenDim, V = _c.Vocab, threads = _threads;
        for (var i = 0; i < N; i++)
            if ((uint)tokens[i] >= (uint)V || (uint)targets[i] >= (uint)V)
                throw new ArgumentOutOfRangeException(nameof(tokens), "A token or target is outside the vocabulary.");
        var a = Prepare(sequences, T);
        tokens.CopyTo(a.Tokens);
        targets.CopyTo(a.Targets);
        var p = Parameters.AsSpan();
        Embedding.Forward(a.Residual[0], tokens, p.Slice(Offsets.TokenEmbedding, V * D), D);
        for (var l = 0; l < _c.Layers; l++)
        {
            var b = Offsets.Blocks[l];
            var s = a.Blocks[l];
            RmsNorm.Forward(s.Norm1, s.Rstd1, a.Residual[l], p.Slice(b.AttentionNorm, D), N, D, _c.NormEpsilon);
            Linear.Forward(s.Q, s.Norm1, p.Slice(b.Wq, qDim * D), N, D, qDim, threads);
            Linear.Forward(s.K, s.Norm1, p.Slice(b.Wk, kvDim * D), N, D, kvDim, threads);
            Linear.Forward(s.V, s.Norm1, p.Slice(b.Wv, kvDim * D), N, D, kvDim, threads);
            for (var q = 0; q < sequences; q++)
            {
                Rope.Rotate(s.Q.AsSpan(q * T * qDim, T * qDim), T, _c.Heads, hd, _ropeCos, _ropeSin, 0, 1f);
                Rope.Rotate(s.K.AsSpan(q * T * kvDim, T * kvDim), T, _c.KvHeads, hd, _ropeCos, _ropeSin, 0, 1f);
            }
            Parallelism.For(threads, sequences * _c.KvHeads, new AttentionJob(_c, s, a, T, backward: false));
            Linear.Forward(s.Middle, s.Attended, p.Slice(b.Wo, D * qDim), N, qDim, D, threads);
            AddInPlace(s.Middle.AsSpan(0, N * D), a.Residual[l]);
            RmsNorm.Forward(s.Norm2, s.Rstd2, s.Middle, p.Slice(b.FeedForwardNorm, D), N, D, _c.NormEpsilon);
            Linear.Forward(s.Gate, s.Norm2, p.Slice(b.WGate, F * D), N, D, F, threads);
            Linear.Forward(s.Up, s.Norm2, p.Slice(b.WUp, F * D), N, D, F, threads);
            SwiGlu.Forward(s.Gated, s.Gate, s.Up, N * F, threads);
            var next = a.Residual[l + 1];
            Linear.Forward(next, s.Gated, p.Slice(b.WDown, D * F), N, F, D, threads);
            AddInPlace(next.AsSpan(0, N * D), s.Middle);
        }
        RmsNorm.Forward(a.FinalNormed, a.FinalRstd, a.Residual[_c.Layers], p.Slice(Offsets.FinalNorm, D), N, D, _c.NormEpsilon);
        Linear.Forward(a.Logits, a.FinalNormed, p.Slice(Offsets.Output, V * D), N, D, V, threads);
        Parallelism.For(threads, Blocks(N), new CrossEntropyJob { Logits = a.Logits, Probs = a.Probs, Targets = a.Targets, RowLoss = a.RowLoss, Rows = N, Vocab = V });
        var loss = 0.0;
        for (var r = 0; r < N; r++) loss += a.RowLoss[r];
        _sequences = sequences;
        _length = T;
        _backwardReady = true;
        return (float)(loss / N);
    }

    /// <summary>The activation buffers, grown (never shrunk) to hold <paramref name="sequences"/> of
    /// <paramref name="length"/> tokens, and RoPE's table for that length.</summary>
    private Activations Prepare(int sequences, int length)
    {
        var rows = sequences * length;
        if (_a is not { } a || a.RowCapacity < rows || a.ProbsCapacity < (long)rows * length)
            _a = a = new Activations(_c, Math.Max(rows, _a?.RowCapacity ?? 0), Math.Max(rows * length, _a?.ProbsCapacity ?? 0));
        if (_ropePositions < length)
        {
            (_ropeCos, _ropeSin) = Rope.Table(length, _c.HeadDim, _c.RopeBase);
            _ropePositions = length;
        }
        return a;
    }

    private const int RowsPerTask = 8;

    private static int Blocks(int rows) => (rows + RowsPerTask - 1) / RowsPerTask;

    private static Span<float> Cleared(float[] buffer, int length)
    {
        var span = buffer.AsSpan(0, length);
        span.Clear();
        return span;
    }

    private static int SequenceLength(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences)
    {
        if (sequences <= 0 || tokens.Length != targets.Length || tokens.Length == 0 || tokens.Length % sequences != 0)
            throw new ArgumentException("Give one target per token and sequences of equal, non-zero length.", nameof(sequences));
        return tokens.Length / sequences;
    }

    private static void AddInPlace(Span<float> target, ReadOnlySpan<float> addend) =>
        TensorPrimitives.Add(target, addend.Slice(0, target.Length), target);

    /// <summary>Softmax and −log p[target] of a block of rows (forward), or p turned into (p − onehot) / rows in place
    /// (backward).</summary>
    private struct CrossEntropyJob : IParallelJob
    {
        public float[] Logits, Probs;
        public int[] Targets;
        public double[] RowLoss;
        public int Rows, Vocab;
        public bool Backward;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int task)
        {
            var scale = 1f / Rows;
            for (int r = task * RowsPerTask, end = Math.Min(Rows, r + RowsPerTask); r < end; r++)
            {
                var p = Probs.AsSpan(r * Vocab, Vocab);
                if (Backward)
                {
                    TensorPrimitives.Multiply(p, scale, p);
                    p[Targets[r]] -= scale;
                }
                else
                {
                    // p = exp(x − max) / Σ exp(x − max), exp once per value; −log p[target] = log Σ − (x[target] − max).
                    var x = Logits.AsSpan(r * Vocab, Vocab);
                    var max = TensorPrimitives.Max(x);
                    TensorPrimitives.Subtract(x, max, p);
                    var shifted = p[Targets[r]];
                    TensorPrimitives.Exp(p, p);
                    var sum = TensorPrimitives.Sum(p);
                    TensorPrimitives.Multiply(p, 1f / sum, p);
                    RowLoss[r] = Math.Log(sum) - shifted;
                }
            }
        }
    }

    /// <summary>Attention of one sequence and one kv head's group of query heads (forward or backward).</summary>
    private readonly struct AttentionJob(LlamaConfig c, BlockActivations s, Activations a, int T, bool backward) : IParallelJob
    {
        public void Run(int task)
        {
            var hd = c.HeadDim;
            int qDim = c.Heads * hd, kvDim = c.KvHeads * hd, seq = task / c.KvHeads, kvh = task % c.KvHeads;
            int q0 = seq * T * qDim, kv0 = seq * T * kvDim, p0 = seq * c.Heads * T * T;
            var q = s.Q.AsSpan(q0, T * qDim);
            var k = s.K.AsSpan(kv0, T * kvDim);
            var v = s.V.AsSpan(kv0, T * kvDim);
            var probs = s.Probs.AsSpan(p0, c.Heads * T * T);
            if (backward)
                Attention.BackwardGroup(a.DQ.AsSpan(q0, T * qDim), a.DK.AsSpan(kv0, T * kvDim), a.DV.AsSpan(kv0, T * kvDim),
                    a.DAttended.AsSpan(q0, T * qDim), probs, q, k, v, T, c.Heads, c.KvHeads, hd, kvh);
            else
                Attention.ForwardGroup(s.Attended.AsSpan(q0, T * qDim), probs, q, k, v, T, c.Heads, c.KvHeads, hd, kvh);
        }
    }

    /// <summary>What the forward pass keeps for the backward pass, and the backward pass's own buffers, for up to
    /// <see cref="RowCapacity"/> positions (rows) in all; slices of the front are used for smaller batches.</summary>
    private sealed class Activations
    {
        public Activations(LlamaConfig c, int rows, int probsPerHead)
        {
            RowCapacity = rows;
            ProbsCapacity = probsPerHead;
            Tokens = new int[rows];
            Targets = new int[rows];
            Residual = new float[c.Layers + 1][];
            for (var l = 0; l <= c.Layers; l++) Residual[l] = new float[rows * c.Dim];
            Blocks = new BlockActivations[c.Layers];
            for (var l = 0; l < c.Layers; l++) Blocks[l] = new BlockActivations(c, rows, probsPerHead);
            FinalNormed = new float[rows * c.Dim];
            FinalRstd = new float[rows];
            Logits = new float[(long)rows * c.Vocab];
            Probs = new float[(long)rows * c.Vocab];
            RowLoss = new double[rows];
            int qDim = c.Heads * c.HeadDim, kvDim = c.KvHeads * c.HeadDim;
            DNormed = new float[rows * c.Dim];
            DResidual = new float[rows * c.Dim];
            DMiddle = new float[rows * c.Dim];
            DGated = new float[rows * c.HiddenDim];
            DGate = new float[rows * c.HiddenDim];
            DUp = new float[rows * c.HiddenDim];
            DQ = new float[rows * qDim];
            DK = new float[rows * kvDim];
            DV = new float[rows * kvDim];
            DAttended = new float[rows * qDim];
        }

        public int RowCapacity { get; }
        public int ProbsCapacity { get; }
        public int[] Tokens { get; }
        public int[] Targets { get; }
        public float[][] Residual { get; }
        public BlockActivations[] Blocks { get; }
        public float[] FinalNormed { get; }
        public float[] FinalRstd { get; }
        public float[] Logits { get; }
        public float[] Probs { get; }
        public double[] RowLoss { get; }
        public float[] DNormed { get; }
        public float[] DResidual { get; }
        public float[] DMiddle { get; }
        public float[] DGated { get; }
        public float[] DGate { get; }
        public float[] DUp { get; }
        public float[] DQ { get; }
        public float[] DK { get; }
        public float[] DV { get; }
        public float[] DAttended { get; }
    }

    private sealed class BlockActivations(LlamaConfig c, int rows, int probsPerHead)
    {
        public float[] Norm1 { get; } = new float[rows * c.Dim];
        public float[] Rstd1 { get; } = new float[rows];
        public float[] Q { get; } = new float[rows * c.Heads * c.HeadDim];
        public float[] K { get; } = new float[rows * c.KvHeads * c.HeadDim];
        public float[] V { get; } = new float[rows * c.KvHeads * c.HeadDim];
        public float[] Probs { get; } = new float[c.Heads * probsPerHead];
        public float[] Attended { get; } = new float[rows * c.Heads * c.HeadDim];
        public float[] Middle { get; } = new float[rows * c.Dim];
        public float[] Norm2 { get; } = new float[rows * c.Dim];
        public float[] Rstd2 { get; } = new float[rows];
        public float[] Gate { get; } = new float[rows * c.HiddenDim];
        public float[] Up { get; } = new float[rows * c.HiddenDim];
        public float[] Gated { get; } = new float[rows * c.HiddenDim];
    }
}

/// <summary>Where each tensor of a <see cref="LlamaModel"/> starts in its flat parameter vector.</summary>
public sealed class ParameterOffsets
{
    /// <summary>The layout of a model of shape <paramref name="c"/> (what <see cref="LlamaModel.Offsets"/> holds), without
    /// allocating one: for readers and writers of parameter vectors.</summary>
    public ParameterOffsets(LlamaConfig c)
    {
        var at = 0;
        int Take(int n) { var start = at; at += n; return start; }
        int qDim = c.Heads * c.HeadDim, kvDim = c.KvHeads * c.HeadDim;
        TokenEmbedding = Take(c.Vocab * c.Dim);
        var blocks = new BlockOffsets[c.Layers];
        for (var l = 0; l < c.Layers; l++)
            blocks[l] = new BlockOffsets(
                AttentionNorm: Take(c.Dim), Wq: Take(qDim * c.Dim), Wk: Take(kvDim * c.Dim), Wv: Take(kvDim * c.Dim),
                Wo: Take(c.Dim * qDim), FeedForwardNorm: Take(c.Dim), WGate: Take(c.HiddenDim * c.Dim),
                WUp: Take(c.HiddenDim * c.Dim), WDown: Take(c.Dim * c.HiddenDim));
        Blocks = blocks;
        FinalNorm = Take(c.Dim);
        Output = Take(c.Vocab * c.Dim);
        Count = at;
    }

    /// <summary>The token embedding [vocab, dim].</summary>
    public int TokenEmbedding { get; }

    /// <summary>Each block's tensors.</summary>
    public IReadOnlyList<BlockOffsets> Blocks { get; }

    /// <summary>The final norm's weight [dim].</summary>
    public int FinalNorm { get; }

    /// <summary>The output head [vocab, dim].</summary>
    public int Output { get; }

    /// <summary>The number of parameters.</summary>
    public int Count { get; }
}

/// <summary>Where one block's tensors start: norms [dim], matrices [out, in].</summary>
public sealed record BlockOffsets(int AttentionNorm, int Wq, int Wk, int Wv, int Wo, int FeedForwardNorm, int WGate, int WUp, int WDown);
