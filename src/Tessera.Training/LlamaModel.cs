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
    private Activations? _saved;

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

    /// <summary>The logits [tokens, vocab] of the last <see cref="Forward"/> (to compare with an inference engine).</summary>
    public ReadOnlySpan<float> Logits => (_saved ?? throw new InvalidOperationException("Logits need a Forward first.")).Logits;

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
    /// keeps the activations for <see cref="Backward"/>.</summary>
    public float Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets)
    {
        if (tokens.Length != targets.Length || tokens.Length == 0) throw new ArgumentException("One target per token, at least one.", nameof(targets));
        int T = tokens.Length, D = _c.Dim, hd = _c.HeadDim, qDim = _c.Heads * hd, kvDim = _c.KvHeads * hd;
        var p = Parameters.AsSpan();
        var a = new Activations(_c, tokens.ToArray(), targets.ToArray());
        Embedding.Forward(a.Residual[0], tokens, p.Slice(Offsets.TokenEmbedding, _c.Vocab * D), D);
        for (var l = 0; l < _c.Layers; l++)
        {
            var b = Offsets.Blocks[l];
            var s = a.Blocks[l];
            RmsNorm.Forward(s.Norm1, s.Rstd1, a.Residual[l], p.Slice(b.AttentionNorm, D), T, D, _c.NormEpsilon);
            Linear.Forward(s.Q, s.Norm1, p.Slice(b.Wq, qDim * D), T, D, qDim);
            Linear.Forward(s.K, s.Norm1, p.Slice(b.Wk, kvDim * D), T, D, kvDim);
            Linear.Forward(s.V, s.Norm1, p.Slice(b.Wv, kvDim * D), T, D, kvDim);
            Rope.Forward(s.Q, T, _c.Heads, hd, _c.RopeBase);
            Rope.Forward(s.K, T, _c.KvHeads, hd, _c.RopeBase);
            Attention.Forward(s.Attended, s.Probs, s.Q, s.K, s.V, T, _c.Heads, _c.KvHeads, hd);
            Linear.Forward(s.Middle, s.Attended, p.Slice(b.Wo, D * qDim), T, qDim, D);
            AddInPlace(s.Middle, a.Residual[l]);
            RmsNorm.Forward(s.Norm2, s.Rstd2, s.Middle, p.Slice(b.FeedForwardNorm, D), T, D, _c.NormEpsilon);
            Linear.Forward(s.Gate, s.Norm2, p.Slice(b.WGate, _c.HiddenDim * D), T, D, _c.HiddenDim);
            Linear.Forward(s.Up, s.Norm2, p.Slice(b.WUp, _c.HiddenDim * D), T, D, _c.HiddenDim);
            SwiGlu.Forward(s.Gated, s.Gate, s.Up);
            var next = a.Residual[l + 1];
            Linear.Forward(next, s.Gated, p.Slice(b.WDown, D * _c.HiddenDim), T, _c.HiddenDim, D);
            AddInPlace(next, s.Middle);
        }
        RmsNorm.Forward(a.FinalNormed, a.FinalRstd, a.Residual[_c.Layers], p.Slice(Offsets.FinalNorm, D), T, D, _c.NormEpsilon);
        Linear.Forward(a.Logits, a.FinalNormed, p.Slice(Offsets.Output, _c.Vocab * D), T, D, _c.Vocab);
        _saved = a;
        return CrossEntropy.Forward(a.Probs, a.Logits, targets, _c.Vocab);
    }

    /// <summary>Overwrites <see cref="Gradients"/> with the gradient of the last <see cref="Forward"/>'s loss.</summary>
    public void Backward()
    {
        var a = _saved ?? throw new InvalidOperationException("Backward needs a Forward first.");
        int T = a.Tokens.Length, D = _c.Dim, hd = _c.HeadDim, qDim = _c.Heads * hd, kvDim = _c.KvHeads * hd, F = _c.HiddenDim;
        ReadOnlySpan<float> p = Parameters;
        var g = Gradients.AsSpan();
        g.Clear();

        var dLogits = new float[T * _c.Vocab];
        CrossEntropy.Backward(dLogits, a.Probs, a.Targets, _c.Vocab);
        var dNormed = new float[T * D];
        Linear.Backward(dNormed, g.Slice(Offsets.Output, _c.Vocab * D), dLogits, a.FinalNormed, p.Slice(Offsets.Output, _c.Vocab * D), T, D, _c.Vocab);
        var dx = new float[T * D]; // the gradient w.r.t. the residual stream after the block being undone
        RmsNorm.Backward(dx, g.Slice(Offsets.FinalNorm, D), dNormed, a.Residual[_c.Layers], p.Slice(Offsets.FinalNorm, D), a.FinalRstd, T, D);

        var dGated = new float[T * F];
        var dGate = new float[T * F];
        var dUp = new float[T * F];
        var dQ = new float[T * qDim];
        var dK = new float[T * kvDim];
        var dV = new float[T * kvDim];
        var dAttended = new float[T * qDim];
        var dMiddle = new float[T * D];
        for (var l = _c.Layers - 1; l >= 0; l--)
        {
            var b = Offsets.Blocks[l];
            var s = a.Blocks[l];
            Array.Clear(dGated); Array.Clear(dGate); Array.Clear(dUp); Array.Clear(dNormed);
            Linear.Backward(dGated, g.Slice(b.WDown, D * F), dx, s.Gated, p.Slice(b.WDown, D * F), T, F, D);
            SwiGlu.Backward(dGate, dUp, dGated, s.Gate, s.Up);
            Linear.Backward(dNormed, g.Slice(b.WGate, F * D), dGate, s.Norm2, p.Slice(b.WGate, F * D), T, D, F);
            Linear.Backward(dNormed, g.Slice(b.WUp, F * D), dUp, s.Norm2, p.Slice(b.WUp, F * D), T, D, F);
            dx.CopyTo(dMiddle, 0); // the residual path
            RmsNorm.Backward(dMiddle, g.Slice(b.FeedForwardNorm, D), dNormed, s.Middle, p.Slice(b.FeedForwardNorm, D), s.Rstd2, T, D);

            Array.Clear(dAttended); Array.Clear(dQ); Array.Clear(dK); Array.Clear(dV); Array.Clear(dNormed);
            Linear.Backward(dAttended, g.Slice(b.Wo, D * qDim), dMiddle, s.Attended, p.Slice(b.Wo, D * qDim), T, qDim, D);
            Attention.Backward(dQ, dK, dV, dAttended, s.Probs, s.Q, s.K, s.V, T, _c.Heads, _c.KvHeads, hd);
            Rope.Backward(dQ, T, _c.Heads, hd, _c.RopeBase);
            Rope.Backward(dK, T, _c.KvHeads, hd, _c.RopeBase);
            Linear.Backward(dNormed, g.Slice(b.Wq, qDim * D), dQ, s.Norm1, p.Slice(b.Wq, qDim * D), T, D, qDim);
            Linear.Backward(dNormed, g.Slice(b.Wk, kvDim * D), dK, s.Norm1, p.Slice(b.Wk, kvDim * D), T, D, kvDim);
            Linear.Backward(dNormed, g.Slice(b.Wv, kvDim * D), dV, s.Norm1, p.Slice(b.Wv, kvDim * D), T, D, kvDim);
            dMiddle.CopyTo(dx, 0); // the residual path
            RmsNorm.Backward(dx, g.Slice(b.AttentionNorm, D), dNormed, a.Residual[l], p.Slice(b.AttentionNorm, D), s.Rstd1, T, D);
        }
        Embedding.Backward(g.Slice(Offsets.TokenEmbedding, _c.Vocab * D), dx, a.Tokens, D);
    }

    /// <inheritdoc/>
    public float ForwardBackward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences)
    {
        var t = SequenceLength(tokens, targets, sequences);
        var total = new float[Gradients.Length];
        var loss = 0.0;
        for (var s = 0; s < sequences; s++)
        {
            loss += Forward(tokens.Slice(s * t, t), targets.Slice(s * t, t));
            Backward();
            System.Numerics.Tensors.TensorPrimitives.Add(total, Gradients, total);
        }
        System.Numerics.Tensors.TensorPrimitives.Multiply(total, 1f / sequences, Gradients);
        return (float)(loss / sequences);
    }

    /// <inheritdoc/>
    public float Evaluate(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences)
    {
        var t = SequenceLength(tokens, targets, sequences);
        var loss = 0.0;
        for (var s = 0; s < sequences; s++) loss += Forward(tokens.Slice(s * t, t), targets.Slice(s * t, t));
        _saved = null;
        return (float)(loss / sequences);
    }

    private static int SequenceLength(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences)
    {
        if (sequences <= 0 || tokens.Length != targets.Length || tokens.Length == 0 || tokens.Length % sequences != 0)
            throw new ArgumentException("Give one target per token and sequences of equal, non-zero length.", nameof(sequences));
        return tokens.Length / sequences;
    }

    private static void AddInPlace(Span<float> target, ReadOnlySpan<float> addend) =>
        System.Numerics.Tensors.TensorPrimitives.Add(target, addend, target);

    /// <summary>What the forward pass keeps for the backward pass.</summary>
    private sealed class Activations
    {
        public Activations(LlamaConfig c, int[] tokens, int[] targets)
        {
            Tokens = tokens;
            Targets = targets;
            var t = tokens.Length;
            Residual = new float[c.Layers + 1][];
            for (var l = 0; l <= c.Layers; l++) Residual[l] = new float[t * c.Dim];
            Blocks = new BlockActivations[c.Layers];
            for (var l = 0; l < c.Layers; l++) Blocks[l] = new BlockActivations(c, t);
            FinalNormed = new float[t * c.Dim];
            FinalRstd = new float[t];
            Logits = new float[t * c.Vocab];
            Probs = new float[t * c.Vocab];
        }

        public int[] Tokens { get; }
        public int[] Targets { get; }
        public float[][] Residual { get; }
        public BlockActivations[] Blocks { get; }
        public float[] FinalNormed { get; }
        public float[] FinalRstd { get; }
        public float[] Logits { get; }
        public float[] Probs { get; }
    }

    private sealed class BlockActivations(LlamaConfig c, int t)
    {
        public float[] Norm1 { get; } = new float[t * c.Dim];
        public float[] Rstd1 { get; } = new float[t];
        public float[] Q { get; } = new float[t * c.Heads * c.HeadDim];
        public float[] K { get; } = new float[t * c.KvHeads * c.HeadDim];
        public float[] V { get; } = new float[t * c.KvHeads * c.HeadDim];
        public float[] Probs { get; } = new float[c.Heads * t * t];
        public float[] Attended { get; } = new float[t * c.Heads * c.HeadDim];
        public float[] Middle { get; } = new float[t * c.Dim];
        public float[] Norm2 { get; } = new float[t * c.Dim];
        public float[] Rstd2 { get; } = new float[t];
        public float[] Gate { get; } = new float[t * c.HiddenDim];
        public float[] Up { get; } = new float[t * c.HiddenDim];
        public float[] Gated { get; } = new float[t * c.HiddenDim];
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
