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
