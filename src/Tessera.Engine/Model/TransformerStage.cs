using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;

namespace Tessera.Engine.Model;

/// <summary>
/// Runs a contiguous range of a Llama-family model's blocks on one backend: the unit a pool places on a
/// device. The first stage takes token ids, others take hidden states; the last stage returns logits,
/// others hidden states. Several sessions can share one call (continuous batching); each has its own
/// <see cref="KvCache"/>. Not thread-safe: one forward pass at a time. Dispose frees copied weights.
/// </summary>
public sealed class TransformerStage : IDisposable
{
    private readonly IComputeBackend _backend;
    private readonly RopeTable _rope;
    private readonly int _maxContext;
    private float[] _x = [];
    private float[] _h = [];
    private float[] _qkv = [];
    private float[] _att = [];
    private float[] _gateUp = [];
    private float[] _last = [];
    private AttentionSequence[] _sequences = [];
    private int _capacity;

    public TransformerStage(GgufFile file, LayerRange range, IComputeBackend backend, int? contextLength = null, WeightStorage storage = WeightStorage.Auto)
    {
        Config = ModelConfig.FromGguf(file);
        Range = range;
        _backend = backend;
        Weights = StageWeights.Load(file, Config, range, backend, storage);
        _maxContext = contextLength ?? Config.ContextLength;
        if (_maxContext <= 0)
            throw new ArgumentOutOfRangeException(nameof(contextLength), "Context length must be positive.");
        _rope = new RopeTable(_maxContext, Config.RopeDimensions, Config.RopeFreqBase, Config.RopeFreqScale, Config.RopeKind, Weights.RopeFreqFactors);
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
    public void Dispose() => Weights.Dispose();

    public KvCache CreateCache(int? maxTokens = null) =>
        new(Range, Config.KvWidth, Math.Min(maxTokens ?? _maxContext, _maxContext));

    /// <summary>Floats this stage writes for a batch: hidden states, or logits when it is the last stage.</summary>
    public int OutputLength(ReadOnlySpan<BatchSequence> batch, LogitsMode mode = LogitsMode.LastPerSequence)
    {
        var tokens = TotalTokens(batch);
        if (!IsLast)
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
        var x = _x.AsSpan(0, n * d);
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
        }
        else
        {
            if (hidden.Length != n * d)
                throw new ArgumentException($"Expected {n * d} hidden-state floats, got {hidden.Length}.", nameof(hidden));
            hidden.CopyTo(x);
        }

        for (var i = 0; i < Weights.Layers.Count; i++)
            RunLayer(i, batch, n);

        if (!IsLast)
        {
            x.CopyTo(output);
        }
        else
        {
            var headStarted = System.Diagnostics.Stopwatch.GetTimestamp();
            var rows = mode == LogitsMode.All ? n : batch.Length;
            ReadOnlySpan<float> source = x;
            if (mode == LogitsMode.LastPerSequence)
            {
                var last = _last.AsSpan(0, rows * d);
                var row = 0;
                var offset = 0;
                foreach (var s in batch)
                {
                    offset += s.TokenCount;
                    x.Slice((offset - 1) * d, d).CopyTo(last.Slice(row++ * d, d));
                }
                source = last;
            }

            var normed = _h.AsSpan(0, rows * d);
            _backend.RmsNorm(source, Weights.OutputNorm, normed, rows, c.RmsNormEps);
            RoundForFloatWeights(Weights.Head!.Value, normed);
            _backend.MatMul(Weights.Head!.Value, normed, output[..(rows * c.VocabSize)], rows);
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
        var d = c.EmbeddingLength;
        var x = _x.AsSpan(0, n * d);
        var h = _h.AsSpan(0, n * d);
        // Q, K and V (and gate and up) are computed by one grouped product into one buffer, each output after the other.
        var qkv = _qkv.AsSpan(0, n * (c.QueryWidth + 2 * c.KvWidth));
        var q = qkv[..(n * c.QueryWidth)];
        var k = qkv.Slice(n * c.QueryWidth, n * c.KvWidth);
        var v = qkv.Slice(n * (c.QueryWidth + c.KvWidth), n * c.KvWidth);
        var att = _att.AsSpan(0, n * c.QueryWidth);

        _backend.RmsNorm(x, w.AttentionNorm, h, n, c.RmsNormEps);
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
        if (w.QueryBias != null)
            AddBias(q, w.QueryBias, n);
        if (w.KeyBias != null)
            AddBias(k, w.KeyBias, n);
        if (w.ValueBias != null)
            AddBias(v, w.ValueBias, n);

        var scale = 1f / MathF.Sqrt(c.HeadDim);
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
            var keys = cache.Keys(index, start + count);
            var values = cache.Values(index, start + count);
            ks.CopyTo(keys[(start * c.KvWidth)..]);
            v.Slice(row * c.KvWidth, count * c.KvWidth).CopyTo(values[(start * c.KvWidth)..]);
            FloatKernels.RoundToHalf(keys.Slice(start * c.KvWidth, count * c.KvWidth));
            FloatKernels.RoundToHalf(values.Slice(start * c.KvWidth, count * c.KvWidth));
            var shape = new AttentionShape(count, start, c.HeadCount, c.HeadCountKv, c.HeadDim, scale);
            _sequences[i] = new AttentionSequence(cache.KeysMemory(index, start + count), cache.ValuesMemory(index, start + count), row, shape);
            row += count;
        }
        // All sessions at once: one parallel pass over every (session, head) instead of one small pass per session.
        _backend.AttentionBatch(q, _sequences.AsSpan(0, batch.Length), att);
        _sequences.AsSpan(0, batch.Length).Clear(); // drop the caches' arrays

        RoundForFloatWeights(w.Output, att);
        _backend.MatMul(w.Output, att, h, n);
        System.Numerics.Tensors.TensorPrimitives.Add(x, h, x);

        _backend.RmsNorm(x, w.FeedForwardNorm, h, n, c.RmsNormEps);
        var ff = c.FeedForwardLength;
        var gateUp = _gateUp.AsSpan(0, 2 * n * ff);
        var gate = gateUp[..(n * ff)];
        var up = gateUp[(n * ff)..];
        RoundForFloatWeights(w.Gate, h);
        _backend.MatMulGroup([w.Gate, w.Up], h, gateUp, n);
        _backend.SwiGlu(gate, up, gate);
        RoundForFloatWeights(w.Down, gate);
        _backend.MatMul(w.Down, gate, h, n);
        System.Numerics.Tensors.TensorPrimitives.Add(x, h, x);
        if (RoundHiddenToHalf)
            FloatKernels.RoundToHalf(x);
    }

    /// <summary>
    /// llama.cpp multiplies bf16 weights with activations converted to bf16; doing the same keeps results within its
    /// tolerance. (F16 weights meet f16 activations inside the backend's product, see IComputeBackend.MatMul.) Every
    /// matrix fed from one buffer has the same type in real files.
    /// </summary>
    private static void RoundForFloatWeights(in Tensors.WeightMatrix w, Span<float> input)
    {
        if (w.Type == Tensors.GgmlType.BF16)
            FloatKernels.RoundToBFloat16(input);
    }

    private static void AddBias(Span<float> rows, float[] bias, int n)
    {
        for (var t = 0; t < n; t++)
        {
            var r = rows.Slice(t * bias.Length, bias.Length);
            System.Numerics.Tensors.TensorPrimitives.Add(r, bias, r);
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
        _x = new float[cap * c.EmbeddingLength];
        _h = new float[cap * c.EmbeddingLength];
        _qkv = new float[cap * (c.QueryWidth + 2 * c.KvWidth)];
        _att = new float[cap * c.QueryWidth];
        _gateUp = new float[cap * 2 * c.FeedForwardLength];
        _last = new float[cap * c.EmbeddingLength];
        _capacity = cap;
    }
}
