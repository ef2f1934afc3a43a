using System.Runtime.CompilerServices;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Backends;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Tokens per tile in prefill: each job takes a block of rows against a block of tokens.</summary>
    private const int TokenBlock = 16;

    public void MatMul(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (x.Length < (long)tokens * w.Cols)
            ThrowSize(nameof(x), x.Length, (long)tokens * w.Cols);
        if (y.Length < (long)tokens * w.Rows)
            ThrowSize(nameof(y), y.Length, (long)tokens * w.Rows);
        if (w.Data == 0)
            throw new ArgumentException($"Weight matrix {w.Name} has no data.", nameof(w));

        var kernel = MatMulKernel.For(w.Type, Path);
        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            byte* act;
            nint actStride;
            switch (kernel.Format)
            {
                case ActivationFormat.F32:
                    act = (byte*)xp;
                    actStride = (nint)w.Cols * sizeof(float);
                    break;
                case ActivationFormat.Q8_0:
                    actStride = ActivationQuant.Q8_0Stride(w.Cols);
                    act = ActivationBuffer(actStride * tokens);
                    QuantizeActivations(xp, w.Cols, tokens, act, actStride, q8K: false);
                    break;
                default:
                    actStride = ActivationQuant.Q8_KStride(w.Cols);
                    act = ActivationBuffer(actStride * tokens);
                    QuantizeActivations(xp, w.Cols, tokens, act, actStride, q8K: true);
                    break;
            }

            var job = new MatMulJob
            {
                Kernel = kernel,
                Weights = (byte*)w.Data,
                RowBytes = (nint)w.RowBytes,
                Rows = w.Rows,
                Cols = w.Cols,
                Tokens = tokens,
                Act = act,
                ActStride = actStride,
                Y = yp,
            };
            job.RowsPerJob = RowsPerJob(w.Rows, tokens, Threads);
            job.RowJobs = (w.Rows + job.RowsPerJob - 1) / job.RowsPerJob;
            var tokenJobs = (tokens + TokenBlock - 1) / TokenBlock;
            Pool.For(job.RowJobs * tokenJobs, job);
        }
    }

    /// <summary>Rows per work item: enough items to balance threads, few enough to keep claims cheap.</summary>
    private static int RowsPerJob(int rows, int tokens, int threads)
    {
        if (threads == 1)
            return tokens == 1 ? rows : Math.Min(rows, 16);
        var target = tokens == 1 ? threads * 16 : threads * 4;
        return Math.Clamp(rows / target, tokens == 1 ? 4 : 4, 64);
    }

    private void QuantizeActivations(float* x, int cols, int tokens, byte* act, nint actStride, bool q8K)
    {
        var job = new QuantizeJob { X = x, Cols = cols, Act = act, ActStride = actStride, Q8K = q8K };
        if (tokens == 1)
            job.Execute(0);
        else
            Pool.For(tokens, job);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowSize(string name, int actual, long needed) =>
        throw new ArgumentException($"{name} holds {actual} floats; the product needs {needed}.", name);

    private struct QuantizeJob : IParallelJob
    {
        public float* X;
        public int Cols;
        public byte* Act;
        public nint ActStride;
        public bool Q8K;

        public readonly void Execute(int index)
        {
            if (Q8K)
                ActivationQuant.QuantizeQ8_K(X + (nint)index * Cols, Cols, Act + index * ActStride);
            else
                ActivationQuant.QuantizeQ8_0(X + (nint)index * Cols, Cols, Act + index * ActStride);
        }
    }

    private struct MatMulJob : IParallelJob
    {
        public MatMulKernel Kernel;
        public byte* Weights;
        public nint RowBytes;
        public int Rows;
        public int Cols;
        public int Tokens;
        public byte* Act;
        public nint ActStride;
        public float* Y;
        public int RowsPerJob;
        public int RowJobs;

        public readonly void Execute(int index)
        {
            var rowJob = index % RowJobs;
            var tokenJob = index / RowJobs;
            var r0 = rowJob * RowsPerJob;
            var r1 = Math.Min(Rows, r0 + RowsPerJob);
            var t0 = tokenJob * TokenBlock;
            var t1 = Math.Min(Tokens, t0 + TokenBlock);
            var dot = Kernel.Dot;
            var dot4 = Kernel.Dot4;
            // Token quads outside, rows inside: one quad's activations stay in L1 while the rows (a few KB each)
            // come from L2. The order of (row, token) pairs does not change any single dot product.
            var t = t0;
            for (; t + 4 <= t1; t += 4)
            {
                var act = Act + t * ActStride;
                var y = Y + (nint)t * Rows;
                for (var r = r0; r < r1; r++)
                    dot4(Weights + r * RowBytes, act, ActStride, Cols, y + r, Rows);
            }
            for (; t < t1; t++)
            {
                var act = Act + t * ActStride;
                var y = Y + (nint)t * Rows;
                for (var r = r0; r < r1; r++)
                    y[r] = dot(Weights + r * RowBytes, act, Cols);
            }
        }
    }
}
