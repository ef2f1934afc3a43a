using System.Buffers;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;

namespace Tessera.Engine.Backends;

/// <summary>The float operations of <see cref="CpuBackend"/>: norm, activation, rotary embedding, attention.</summary>
public sealed unsafe partial class CpuBackend
{
    private float[] _scores = [];

    public void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int tokens, float eps) =>
        FloatKernels.RmsNorm(x, weight, y, tokens, eps);

    public void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (gate.Length < 2 * SwiGluChunk || Threads == 1)
        {
            FloatKernels.SwiGlu(gate, up, output);
            return;
        }
        if (up.Length < gate.Length || output.Length < gate.Length)
            throw new ArgumentException($"SwiGLU over {gate.Length} values needs as many in up ({up.Length}) and output ({output.Length}).");
        // Chunks are whole multiples of the kernel's own 256-value steps, so every value is computed as in one call.
        fixed (float* g = gate)
        fixed (float* u = up)
        fixed (float* o = output)
            Pool.For((gate.Length + SwiGluChunk - 1) / SwiGluChunk, new SwiGluJob { Gate = g, Up = u, Output = o, Length = gate.Length });
    }

    private const int SwiGluChunk = 1024;

    private struct SwiGluJob : IParallelJob
    {
        public float* Gate, Up, Output;
        public int Length;

        public readonly void Execute(int index)
        {
            var start = index * SwiGluChunk;
            var n = Math.Min(SwiGluChunk, Length - start);
            FloatKernels.SwiGlu(new ReadOnlySpan<float>(Gate + start, n), new ReadOnlySpan<float>(Up + start, n), new Span<float>(Output + start, n));
        }
    }

    public void Rope(Span<float> x, int tokens, int heads, int headDim, int startPosition, RopeTable table) =>
        FloatKernels.Rope(x, tokens, heads, headDim, startPosition, table);

    /// <summary>Heads are independent: each work item computes one head for every query row, with its own score buffer.</summary>
    public void Attention(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, in AttentionShape shape)
    {
        var visible = shape.StartPosition + shape.Tokens;
        var perHead = visible; // one row of scores per head
        var needed = perHead * shape.Heads;
        if (_scores.Length < needed)
            _scores = new float[Math.Max(needed, _scores.Length * 2)];
        fixed (float* q = queries)
        fixed (float* k = keys)
        fixed (float* v = values)
        fixed (float* o = output)
        fixed (float* s = _scores)
        {
            var job = new AttentionJob
            {
                Q = q, K = k, V = v, O = o, Scores = s, Shape = shape,
                QueryLength = queries.Length, KeyLength = keys.Length, OutputLength = output.Length,
            };
            // Parallel over heads as soon as there is more than a few microseconds of work: decode reaches it at 32 positions.
            if (shape.Tokens * visible < 32 || Threads == 1)
            {
                for (var h = 0; h < shape.Heads; h++)
                    job.Execute(h);
            }
            else
            {
                Pool.For(shape.Heads, job);
            }
        }
    }

    /// <summary>
    /// Every (sequence, head) of a batch is one work item of a single parallel pass: a decode step of eight sessions
    /// pays one pass instead of eight passes of a few microseconds each. Each item runs exactly as in <see cref="Attention"/>.
    /// </summary>
    public void AttentionBatch(in BackendTensor queryTensor, ReadOnlySpan<AttentionSequence> sequences, in BackendTensor outputTensor)
    {
        var queries = HostBuffer.Span(queryTensor);
        var output = HostBuffer.Span(outputTensor);
        if (sequences.Length == 1 || Threads == 1)
        {
            foreach (var s in sequences)
            {
                var width = s.Shape.QueryWidth;
                Attention(queries.Slice(s.FirstRow * width, s.Shape.Tokens * width), HostBuffer.Span(s.Keys), HostBuffer.Span(s.Values),
                    output.Slice(s.FirstRow * width, s.Shape.Tokens * width), s.Shape);
            }
            return;
        }
        var heads = sequences[0].Shape.Heads;
        long scores = 0;
        foreach (var s in sequences)
        {
            if (s.Shape.Heads != heads)
                throw new ArgumentException("Sequences of one attention batch share their head count.", nameof(sequences));
            var width = s.Shape.QueryWidth;
            var visible = s.Shape.StartPosition + s.Shape.Tokens;
            if ((long)(s.FirstRow + s.Shape.Tokens) * width > Math.Min(queries.Length, output.Length)
                || s.Keys.Length < visible * s.Shape.KvWidth || s.Values.Length < visible * s.Shape.KvWidth)
                throw new ArgumentException("An attention sequence reaches past its buffers.", nameof(sequences));
            scores += (long)visible * heads;
        }
        if (_scores.Length < scores)
            _scores = new float[Math.Max(scores, _scores.Length * 2)];
        if (_pins.Length < 2 * sequences.Length)
            _pins = new MemoryHandle[Math.Max(2 * sequences.Length, 2 * _pins.Length)];
        var items = stackalloc BatchedSequence[sequences.Length];
        try
        {
            long offset = 0;
            for (var i = 0; i < sequences.Length; i++)
            {
                var s = sequences[i];
                _pins[2 * i] = HostBuffer.Memory(s.Keys).Pin();
                _pins[2 * i + 1] = HostBuffer.Memory(s.Values).Pin();
                items[i] = new BatchedSequence
                {
                    K = (float*)_pins[2 * i].Pointer, V = (float*)_pins[2 * i + 1].Pointer, KeyLength = s.Keys.Length,
                    FirstRow = s.FirstRow, ScoreOffset = offset, Shape = s.Shape,
                };
                offset += (long)(s.Shape.StartPosition + s.Shape.Tokens) * heads;
            }
            fixed (float* q = queries)
            fixed (float* o = output)
            fixed (float* sc = _scores)
                Pool.For(sequences.Length * heads, new AttentionBatchJob { Q = q, O = o, Scores = sc, Sequences = items, Heads = heads });
        }
        finally
        {
            for (var i = 0; i < 2 * sequences.Length; i++)
            {
                _pins[i].Dispose();
                _pins[i] = default;
            }
        }
    }

    private MemoryHandle[] _pins = [];

    private struct BatchedSequence
    {
        public float* K, V;
        public int KeyLength, FirstRow;
        public long ScoreOffset;
        public AttentionShape Shape;
    }

    private struct AttentionBatchJob : IParallelJob
    {
        public float* Q, O, Scores;
        public BatchedSequence* Sequences;
        public int Heads;

        public readonly void Execute(int index)
        {
            var s = Sequences + index / Heads;
            var head = index % Heads;
            var width = s->Shape.QueryWidth;
            var rows = s->Shape.Tokens * width;
            var perHead = s->Shape.StartPosition + s->Shape.Tokens;
            FloatKernels.Attention(
                new ReadOnlySpan<float>(Q + (long)s->FirstRow * width, rows), new ReadOnlySpan<float>(s->K, s->KeyLength),
                new ReadOnlySpan<float>(s->V, s->KeyLength), new Span<float>(O + (long)s->FirstRow * width, rows), s->Shape, head, 1,
                new Span<float>(Scores + s->ScoreOffset + (long)head * perHead, perHead));
        }
    }

    private struct AttentionJob : IParallelJob
    {
        public float* Q, K, V, O, Scores;
        public int QueryLength, KeyLength, OutputLength;
        public AttentionShape Shape;

        public readonly void Execute(int head)
        {
            var perHead = Shape.StartPosition + Shape.Tokens;
            FloatKernels.Attention(
                new ReadOnlySpan<float>(Q, QueryLength), new ReadOnlySpan<float>(K, KeyLength), new ReadOnlySpan<float>(V, KeyLength),
                new Span<float>(O, OutputLength), Shape, head, 1, new Span<float>(Scores + (long)head * perHead, perHead));
        }
    }
}
