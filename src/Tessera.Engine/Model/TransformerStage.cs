using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Model;

/// <summary>
/// Runs a contiguous range of a Llama-family model's blocks (see <see cref="ModelConfig"/> for the variants) on one backend: the unit a pool places on a
/// device. The first stage takes token ids, others take hidden states; the last stage returns logits,
/// others hidden states. Several sessions can share one call (continuous batching); each has its own
/// <see cref="KvCache"/>. Not thread-safe: one forward pass at a time. Dispose frees copied weights.
/// </summary>
public sealed class TransformerStage : IDisposable
{
    private readonly IComputeBackend _backend;
    private readonly RopeTable _rope;
    private readonly int _maxContext;
    private readonly LayerVectors[] _vectors;
    private readonly BackendTensor _outputNorm;
    // Activations in the backend's memory (device memory for a GPU), grown to the largest batch seen.
    private BackendBuffer? _x, _h, _qkv, _att, _gateUp, _last, _logits;
    // Mixture of experts: router outputs, one expert's gathered inputs and outputs, each token's chosen experts' outputs,
    // their sum, the shared expert's output and gate; and the routing on the host.
    private BackendBuffer? _routerLogits, _expertIn, _expertOut, _slots, _moeOut, _sharedOut, _sharedGate;
    private float[] _hostLogits = [];
    private int[] _selected = [], _rows = [];
    private float[] _expertWeights = [];
    private AttentionSequence[] _sequences = [];
    private int _capacity;

    public TransformerStage(GgufFile file, LayerRange range, IComputeBackend backend, int? contextLength = null, WeightStorage storage = WeightStorage.Auto)
    {
        Config = ModelConfig.FromGguf(file);
        Range = range;
        _backend = backend;
        Weights = StageWeights.Load(file, Config, range, storage == WeightStorage.Auto ? backend.PreferredStorage : storage);
        _maxContext = contextLength ?? Config.ContextLength;
        if (_maxContext <= 0)
            throw new ArgumentOutOfRangeException(nameof(contextLength), "Context length must be positive.");
        _rope = new RopeTable(_maxContext, Config.RopeDimensions, Config.RopeFreqBase, Config.RopeFreqScale, Config.RopeKind, Weights.RopeFreqFactors);
        _vectors = new LayerVectors[Weights.Layers.Count];
        for (var i = 0; i < _vectors.Length; i++)
        {
            var l = Weights.Layers[i];
            _vectors[i] = new LayerVectors(Upload(l.AttentionNorm)!.Value, Upload(l.FeedForwardNorm)!.Value,
                Upload(l.QueryBias), Upload(l.KeyBias), Upload(l.ValueBias), Upload(l.PostAttentionNorm), Upload(l.PostFeedForwardNorm));
            foreach (var m in l.Matrices)
                backend.Prepare(m);
        }
        if (Weights.Embedding is { } embedding)
            backend.Prepare(embedding);
        if (Weights.Head is { } head)
            backend.Prepare(head);
        if (Weights.OutputNorm is { } norm)
            _outputNorm = Upload(norm)!.Value;
    }

    public ModelConfig Config { get; }

    public LayerRange Range { get; }

    public StageWeights Weights { get; }

    public IComputeBackend Backend => _backend;

    public int ContextLength => _maxContext;

    /// <summary>
    /// Rounds the hidden state to f16 after every layer. A pipeline that sends f16 activations sets it on every stage:
    /// hidden states are then f16 values at every layer boundary, so sending them loses nothing and the output does not
    /// depend on where the model is split (a re-plan after a failure keeps the text).
    /// </summary>
    public bool RoundHiddenToHalf { get; set; }

    public bool IsFirst => Range.First == 0;

    public bool IsLast => Range.Last == Config.BlockCount;

    /// <summary>Frees the stage's copied weights (see <see cref="WeightStorage"/>); the stage must not run after.</summary>
    public void Dispose()
    {
        foreach (var b in (BackendBuffer?[])[_x, _h, _qkv, _att, _gateUp, _last, _logits, _routerLogits, _expertIn, _expertOut, _slots, _moeOut, _sharedOut, _sharedGate])
            b?.Dispose();
        foreach (var v in _vectors)
            v.Dispose();
        if (!_outputNorm.IsEmpty)
            _outputNorm.Buffer.Dispose();
        Weights.Dispose();
    }

    public KvCache CreateCache(int? maxTokens = null) =>
        new(Range, Config.KvWidth, Math.Min(maxTokens ?? _maxContext, _maxContext), _backend);

    /// <summary>Floats this stage writes for a batch: hidden states, or logits when it is the last stage.</summary>
    public int OutputLength(ReadOnlySpan<BatchSequence> batch, LogitsMode mode = LogitsMode.LastPerSequence)
    {
        var tokens = TotalTokens(batch);
        if (!IsLast || mode == LogitsMode.NormedHidden)
            return tokens * Config.EmbeddingLength;
        return (mode == LogitsMode.All ? tokens : batch.Length) * Config.VocabSize;
    }

    /// <summary>
    /// Stopwatch ticks the last <see cref="Forward"/> spent in the output norm and head (0 when not the last stage): the
    /// head is one wide product that streams memory better than a layer's small ones, so a stage's speed per byte
    /// depends on whether it holds the head unless the two are timed apart.
    /// </summary>
    public long LastHeadTicks { get; private set; }

    /// <summary>
    /// Runs the stage on a batch. First stage: <paramref name="tokens"/> holds the new token ids of all
    /// sequences in order and <paramref name="hidden"/> is empty; other stages: <paramref name="hidden"/>
    /// holds tokens x embedding floats. Writes <see cref="OutputLength"/> floats to <paramref name="output"/>.
    /// </summary>
    public void Forward(ReadOnlySpan<BatchSequence> batch, ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden, Span<float> output,
        LogitsMode mode = LogitsMode.LastPerSequence)
    {
        var n = TotalTokens(batch);
        if (n == 0)
            return;
        var c = Config;
        var d = c.EmbeddingLength;
        if (output.Length < OutputLength(batch, mode))
            throw new ArgumentException($"Output needs {OutputLength(batch, mode)} floats.", nameof(output));
        foreach (var s in batch)
        {
            if (s.Cache.Range != Range)
                throw new ArgumentException($"A cache for layers {s.Cache.Range} was passed to the stage for {Range}.");
            s.Cache.Reserve(s.TokenCount);
        }

        EnsureCapacity(n);
        var x = _x!.Slice(0, n * d);
        if (IsFirst)
        {
            if (tokens.Length != n)
                throw new ArgumentException($"Expected {n} token ids, got {tokens.Length}.", nameof(tokens));
            foreach (var id in tokens)
            {
                if ((uint)id >= (uint)c.VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {id} is outside the vocabulary (0..{c.VocabSize - 1}).");
            }
            _backend.GetRows(Weights.Embedding!.Value, tokens, x);
            if (c.EmbeddingScale != 1)
                _backend.Scale(x, c.EmbeddingScale);
        }
        else
        {
            if (hidden.Length != n * d)
                throw new ArgumentException($"Expected {n * d} hidden-state floats, got {hidden.Length}.", nameof(hidden));
            _backend.Upload(hidden, x);
        }

        for (var i = 0; i < Weights.Layers.Count; i++)
            RunLayer(i, batch, n);

        if (!IsLast)
        {
            _backend.Download(x, output[..(n * d)]);
        }
        else if (mode == LogitsMode.NormedHidden)
        {
            var normed = _h!.Slice(0, n * d);
            _backend.RmsNorm(x, _outputNorm, normed, n, c.RmsNormEps);
            _backend.Download(normed, output[..(n * d)]);
            LastHeadTicks = 0;
        }
        else
        {
            var headStarted = System.Diagnostics.Stopwatch.GetTimestamp();
            var rows = mode == LogitsMode.All ? n : batch.Length;
            var source = x;
            if (mode == LogitsMode.LastPerSequence && rows != n)
            {
                // Sessions of several new tokens: only each one's last row goes through the head.
                var row = 0;
                var offset = 0;
                foreach (var s in batch)
                {
                    offset += s.TokenCount;
                    _backend.Copy(x.Slice((offset - 1) * d, d), _last!.Slice(row++ * d, d));
                }
                source = _last!.Slice(0, rows * d);
            }

            var normed = _h!.Slice(0, rows * d);
            _backend.RmsNorm(source, _outputNorm, normed, rows, c.RmsNormEps);
            RoundForFloatWeights(Weights.Head!.Value, normed);
            var logits = Logits(rows * c.VocabSize);
            _backend.MatMul(Weights.Head!.Value, normed, logits, rows);
            if (c.FinalSoftCap > 0)
                _backend.SoftCap(logits, c.FinalSoftCap);
            _backend.Download(logits, output[..(rows * c.VocabSize)]);
            LastHeadTicks = System.Diagnostics.Stopwatch.GetTimestamp() - headStarted;
        }

        foreach (var s in batch)
            s.Cache.Advance(s.TokenCount);
        GC.KeepAlive(Weights); // copied weights are native memory freed by a finalizer: keep them alive to the end
    }

    private void RunLayer(int index, ReadOnlySpan<BatchSequence> batch, int n)
    {
        var c = Config;
        var w = Weights.Layers[index];
        var vectors = _vectors[index];
        var d = c.EmbeddingLength;
        var x = _x!.Slice(0, n * d);
        var h = _h!.Slice(0, n * d);
        // Q, K and V (and gate and up) are computed by one grouped product into one buffer, each output after the other.
        var qkv = _qkv!.Slice(0, n * (c.QueryWidth + 2 * c.KvWidth));
        var q = qkv[..(n * c.QueryWidth)];
        var k = qkv.Slice(n * c.QueryWidth, n * c.KvWidth);
        var v = qkv.Slice(n * (c.QueryWidth + c.KvWidth), n * c.KvWidth);
        var att = _att!.Slice(0, n * c.QueryWidth);

        _backend.RmsNorm(x, vectors.AttentionNorm, h, n, c.RmsNormEps);
        RoundForFloatWeights(w.Query, h);
        if (w.Query.Cols == w.Key.Cols && w.Key.Cols == w.Value.Cols)
        {
            _backend.MatMulGroup([w.Query, w.Key, w.Value], h, qkv, n);
        }
        else
        {
            _backend.MatMul(w.Query, h, q, n);
            _backend.MatMul(w.Key, h, k, n);
            _backend.MatMul(w.Value, h, v, n);
        }
        if (vectors.QueryBias is { } qb)
            _backend.AddBias(q, qb, n);
        if (vectors.KeyBias is { } kb)
            _backend.AddBias(k, kb, n);
        if (vectors.ValueBias is { } vb)
            _backend.AddBias(v, vb, n);

        // Phi-3 and Gemma 2 scale the query itself after RoPE (llama.cpp's graph for them); the others scale the scores.
        var scale = c.ScaleQueryFirst ? 1f : c.QueryScale;
        var window = c.WindowOf(Range.First + index);
        var row = 0;
        if (_sequences.Length < batch.Length)
            _sequences = new AttentionSequence[Math.Max(batch.Length, 2 * _sequences.Length)];
        for (var i = 0; i < batch.Length; i++)
        {
            var cache = batch[i].Cache;
            var start = cache.Length;
            var count = batch[i].TokenCount;
            var qs = q.Slice(row * c.QueryWidth, count * c.QueryWidth);
            var ks = k.Slice(row * c.KvWidth, count * c.KvWidth);
            _backend.Rope(qs, count, c.HeadCount, c.HeadDim, start, _rope);
            _backend.Rope(ks, count, c.HeadCountKv, c.HeadDim, start, _rope);
            if (c.ScaleQueryFirst)
                _backend.Scale(qs, c.QueryScale);
            var keys = cache.Keys(index, start + count);
            var values = cache.Values(index, start + count);
            // The cache holds f16 values, as llama.cpp's f16 KV cache does.
            var newKeys = keys.Slice(start * c.KvWidth, count * c.KvWidth);
            var newValues = values.Slice(start * c.KvWidth, count * c.KvWidth);
            _backend.Copy(ks, newKeys);
            _backend.Copy(v.Slice(row * c.KvWidth, count * c.KvWidth), newValues);
            _backend.RoundToHalf(newKeys);
            _backend.RoundToHalf(newValues);
            var shape = new AttentionShape(count, start, c.HeadCount, c.HeadCountKv, c.HeadDim, scale)
            {
                SoftCap = c.AttentionSoftCap,
                Window = window,
                PromptRows = batch[i].PromptRows(start),
            };
            _sequences[i] = new AttentionSequence(keys, values, row, shape);
            row += count;
        }
        // All sessions at once: one parallel pass over every (session, head) instead of one small pass per session.
        _backend.AttentionBatch(q, _sequences.AsSpan(0, batch.Length), att);
        _sequences.AsSpan(0, batch.Length).Clear(); // drop the caches' buffers

        RoundForFloatWeights(w.Output, att);
        _backend.MatMul(w.Output, att, h, n);
        AddResidual(x, h, vectors.PostAttentionNorm, n);

        _backend.RmsNorm(x, vectors.FeedForwardNorm, h, n, c.RmsNormEps);
        var ffOut = w.Experts is { } experts
            ? MixtureOfExperts(experts, h, n)
            : GatedFeedForward(w.Gate!.Value, w.Up!.Value, w.Down!.Value, h, h, n);
        AddResidual(x, ffOut, vectors.PostFeedForwardNorm, n);
        if (RoundHiddenToHalf)
            _backend.RoundToHalf(x);
    }

    /// <summary>
    /// down(act(gate · input) * (up · input)) for <paramref name="n"/> rows into <paramref name="output"/> (which may be the
    /// input: it is read before the output is written). The activation is the model's (SiLU, or Gemma 2's GELU).
    /// </summary>
    private BackendTensor GatedFeedForward(in WeightMatrix gate, in WeightMatrix up, in WeightMatrix down, in BackendTensor input, in BackendTensor output, int n)
    {
        var width = gate.Rows;
        var gateUp = _gateUp!.Slice(0, 2 * n * width);
        var g = gateUp[..(n * width)];
        var u = gateUp[(n * width)..];
        RoundForFloatWeights(gate, input);
        _backend.MatMulGroup([gate, up], input, gateUp, n);
        if (Config.GateActivation == GateActivation.Gelu)
            _backend.GeGlu(g, u, g);
        else
            _backend.SwiGlu(g, u, g);
        RoundForFloatWeights(down, g);
        _backend.MatMul(down, g, output, n);
        return output;
    }

    /// <summary>
    /// A mixture-of-experts feed-forward over the normed rows <paramref name="h"/>, in llama.cpp's order: the router's
    /// logits come to the host and choose each token's experts (<see cref="ExpertRouter"/>); each expert runs once over
    /// the rows that chose it (so decode reads only the chosen experts); each token's outputs, times their weights, are
    /// added in the order of the choice; Qwen2-MoE's shared expert, times sigmoid(gate input · x), is added last.
    /// </summary>
    private BackendTensor MixtureOfExperts(ExpertWeights e, in BackendTensor h, int n)
    {
        var c = Config;
        var (d, experts, used) = (c.EmbeddingLength, c.ExpertCount, c.ExpertUsedCount);
        var logits = _routerLogits!.Slice(0, n * experts);
        RoundForFloatWeights(e.Router, h);
        _backend.MatMul(e.Router, h, logits, n);
        _backend.Download(logits, _hostLogits.AsSpan(0, n * experts));
        ExpertRouter.Route(_hostLogits, n, experts, used, c.NormalizeExpertWeights, _selected, _expertWeights);

        var slots = _slots!.Slice(0, n * used * d);
        for (var expert = 0; expert < experts; expert++)
        {
            var m = 0;
            for (var i = 0; i < n * used; i++)
            {
                if (_selected[i] == expert)
                    _rows[m++] = i;
            }
            if (m == 0)
                continue;
            var input = _expertIn!.Slice(0, m * d);
            for (var j = 0; j < m; j++)
                _backend.Copy(h.Slice(_rows[j] / used * d, d), input.Slice(j * d, d));
            var output = GatedFeedForward(e.Gate[expert], e.Up[expert], e.Down[expert], input, _expertOut!.Slice(0, m * d), m);
            for (var j = 0; j < m; j++)
            {
                var slot = slots.Slice(_rows[j] * d, d);
                _backend.Copy(output.Slice(j * d, d), slot);
                _backend.Scale(slot, _expertWeights[_rows[j]]);
            }
        }
        var result = _moeOut!.Slice(0, n * d);
        for (var t = 0; t < n; t++)
        {
            var row = result.Slice(t * d, d);
            _backend.Copy(slots.Slice(t * used * d, d), row);
            for (var s = 1; s < used; s++)
                _backend.Add(row, slots.Slice((t * used + s) * d, d), row);
        }
        if (e.Shared is { } shared)
        {
            var sharedOut = GatedFeedForward(shared.Gate, shared.Up, shared.Down, h, _sharedOut!.Slice(0, n * d), n);
            var gate = _sharedGate!.Slice(0, n);
            _backend.MatMul(shared.GateInput, h, gate, n);
            _backend.Download(gate, _hostLogits.AsSpan(0, n));
            for (var t = 0; t < n; t++)
            {
                // llama.cpp's sigmoid here is silu(g) / g.
                var g = _hostLogits[t];
                _backend.Scale(sharedOut.Slice(t * d, d), GgmlMath.Silu(g) / g);
            }
            _backend.Add(result, sharedOut, result);
        }
        return result;
    }

    /// <summary>x += y, with y RMS-normed first where the model norms its blocks' outputs (Gemma 2's post-norms).</summary>
    private void AddResidual(in BackendTensor x, in BackendTensor y, BackendTensor? postNorm, int n)
    {
        if (postNorm is { } norm)
        {
            var normed = _last!.Slice(0, n * Config.EmbeddingLength);
            _backend.RmsNorm(y, norm, normed, n, Config.RmsNormEps);
            _backend.Add(x, normed, x);
        }
        else
        {
            _backend.Add(x, y, x);
        }
    }

    /// <summary>
    /// llama.cpp multiplies bf16 weights with activations converted to bf16; doing the same keeps results within its
    /// tolerance. (F16 weights meet f16 activations inside the backend's product, see IComputeBackend.MatMul.) Every
    /// matrix fed from one buffer has the same type in real files.
    /// </summary>
    private void RoundForFloatWeights(in Tensors.WeightMatrix w, in BackendTensor input)
    {
        if (w.Type == Tensors.GgmlType.BF16)
            _backend.RoundToBFloat16(input);
    }

    /// <summary>A copy of <paramref name="values"/> in the backend's memory (null for null).</summary>
    private BackendTensor? Upload(float[]? values)
    {
        if (values is null)
            return null;
        var tensor = _backend.Allocate(values.Length).All;
        _backend.Upload(values, tensor);
        return tensor;
    }

    private BackendTensor Logits(int floats)
    {
        if (_logits is null || _logits.Length < floats)
            _logits = Reallocate(_logits, floats);
        return _logits.Slice(0, floats);
    }

    /// <summary>A layer's norms and biases in the backend's memory.</summary>
    private sealed record LayerVectors(BackendTensor AttentionNorm, BackendTensor FeedForwardNorm, BackendTensor? QueryBias, BackendTensor? KeyBias, BackendTensor? ValueBias,
        BackendTensor? PostAttentionNorm, BackendTensor? PostFeedForwardNorm)
    {
        public void Dispose()
        {
            foreach (var t in (BackendTensor?[])[AttentionNorm, FeedForwardNorm, QueryBias, KeyBias, ValueBias, PostAttentionNorm, PostFeedForwardNorm])
                t?.Buffer.Dispose();
        }
    }

    private static int TotalTokens(ReadOnlySpan<BatchSequence> batch)
    {
        var n = 0;
        foreach (var s in batch)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(s.TokenCount);
            n += s.TokenCount;
        }
        return n;
    }

    private void EnsureCapacity(int n)
    {
        if (n <= _capacity)
            return;
        var c = Config;
        var cap = Math.Max(n, Math.Min(_capacity * 2, 4096));
        _x = Reallocate(_x, cap * c.EmbeddingLength);
        _h = Reallocate(_h, cap * c.EmbeddingLength);
        _qkv = Reallocate(_qkv, cap * (c.QueryWidth + 2 * c.KvWidth));
        _att = Reallocate(_att, cap * c.QueryWidth);
        _gateUp = Reallocate(_gateUp, cap * 2 * Math.Max(c.FeedForwardLength, Math.Max(c.ExpertFeedForwardLength, c.SharedExpertFeedForwardLength)));
        if (c.IsMixtureOfExperts)
        {
            var d = c.EmbeddingLength;
            var used = c.ExpertUsedCount;
            _routerLogits = Reallocate(_routerLogits, cap * c.ExpertCount);
            // An expert runs over at most every row once (a token chooses an expert at most once).
            _expertIn = Reallocate(_expertIn, cap * d);
            _expertOut = Reallocate(_expertOut, cap * d);
            _slots = Reallocate(_slots, cap * used * d);
            _moeOut = Reallocate(_moeOut, cap * d);
            _sharedOut = Reallocate(_sharedOut, cap * d);
            _sharedGate = Reallocate(_sharedGate, cap);
            _hostLogits = new float[cap * Math.Max(c.ExpertCount, 1)];
            _selected = new int[cap * used];
            _rows = new int[cap * used];
            _expertWeights = new float[cap * used];
        }
        _last = Reallocate(_last, cap * c.EmbeddingLength);
        _capacity = cap;
    }

    private BackendBuffer Reallocate(BackendBuffer? old, int floats)
    {
        old?.Dispose();
        return _backend.Allocate(floats);
    }
}
