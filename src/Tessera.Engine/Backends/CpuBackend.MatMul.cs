using System.Runtime.CompilerServices;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Backends;

public sealed unsafe partial class CpuBackend
{
    /// <summary>
    /// Tokens per tile in prefill: each job takes a block of rows against a block of tokens. Must stay even: the paired
    /// Q4_0 activations (<see cref="ActivationPairs"/>) are addressed by pair, so a token block starts at an even token.
    /// </summary>
    private const int TokenBlock = 16;

    public void MatMul(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens) =>
        MatMulGroup(new ReadOnlySpan<WeightMatrix>(in w), x, y, tokens);

    /// <summary>
    /// Products of one input with up to <see cref="MaxGroup"/> matrices in one parallel pass: the input is quantized
    /// once per activation format and the threads take rows of all matrices from one counter, so small matrices (K, V)
    /// cost no separate synchronisation. Each (row, token) is computed exactly as <see cref="MatMul"/> would.
    /// </summary>
    public void MatMulGroup(ReadOnlySpan<WeightMatrix> weights, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (weights.Length is 0 or > MaxGroup)
            throw new ArgumentException($"A group holds 1 to {MaxGroup} matrices, not {weights.Length}.", nameof(weights));
        var cols = weights[0].Cols;
        long outputs = 0;
        foreach (ref readonly var w in weights)
        {
            if (w.Cols != cols)
                throw new ArgumentException($"Matrices of one group share their input: {w.Name} has {w.Cols} columns, {weights[0].Name} {cols}.", nameof(weights));
            if (w.Data == 0)
                throw new ArgumentException($"Weight matrix {w.Name} has no data.", nameof(weights));
            outputs += (long)tokens * w.Rows;
        }
        if (x.Length < (long)tokens * cols)
            ThrowSize(nameof(x), x.Length, (long)tokens * cols);
        if (y.Length < outputs)
            ThrowSize(nameof(y), y.Length, outputs);

        var segments = stackalloc MatMulSegment[MaxGroup];
        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            // Quantize (or round) once per format the group needs (side by side when types are mixed).
            nint q80Stride = 0, q8KStride = 0, f16Stride = 0, pairStride = 0;
            foreach (ref readonly var w in weights)
            {
                var kernel = MatMulKernel.For(w, Path);
                switch (kernel.FormatFor(tokens))
                {
                    case ActivationFormat.Q8_0:
                        q80Stride = ActivationQuant.Q8_0Stride(cols);
                        break;
                    case ActivationFormat.Q8_0Pairs:
                        q80Stride = ActivationQuant.Q8_0Stride(cols); // the pairs are built from it
                        pairStride = ActivationPairs.Stride(cols);
                        break;
                    case ActivationFormat.Q8_K:
                        q8KStride = ActivationQuant.Q8_KStride(cols);
                        break;
                    case ActivationFormat.F16:
                        f16Stride = ActivationQuant.F16Stride(cols);
                        break;
                }
            }
            var pairCount = (tokens + 1) / 2;
            var total = (q80Stride + q8KStride + f16Stride) * tokens + pairStride * pairCount;
            var buffer = total > 0 ? ActivationBuffer(total) : null;
            var q80 = buffer;
            var q8K = q80 + q80Stride * tokens;
            var f16 = q8K + q8KStride * tokens;
            var pairs = f16 + f16Stride * tokens;
            if (q80Stride > 0)
                QuantizeActivations(xp, cols, tokens, q80, q80Stride, ActivationFormat.Q8_0);
            if (q8KStride > 0)
                QuantizeActivations(xp, cols, tokens, q8K, q8KStride, ActivationFormat.Q8_K);
            if (f16Stride > 0)
                QuantizeActivations(xp, cols, tokens, f16, f16Stride, ActivationFormat.F16);
            if (pairStride > 0)
                ActivationPairs.Pack(q80, q80Stride, tokens, cols, pairs); // a copy of a few KB per token: not worth a pass of the pool

            var items = 0;
            var offset = 0L;
            var tokenJobs = (tokens + TokenBlock - 1) / TokenBlock;
            for (var i = 0; i < weights.Length; i++)
            {
                ref readonly var w = ref weights[i];
                var kernel = MatMulKernel.For(w, Path);
                byte* act;
                nint actStride;
                var format = kernel.FormatFor(tokens);
                switch (format)
                {
                    case ActivationFormat.F32:
                        act = (byte*)xp;
                        actStride = (nint)cols * sizeof(float);
                        break;
                    case ActivationFormat.Q8_0:
                        act = q80;
                        actStride = q80Stride;
                        break;
                    case ActivationFormat.Q8_0Pairs:
                        act = pairs;
                        actStride = pairStride;
                        break;
                    case ActivationFormat.F16:
                        act = f16;
                        actStride = f16Stride;
                        break;
                    default:
                        act = q8K;
                        actStride = q8KStride;
                        break;
                }
                // A few tokens stream the weights as one token does: the same long runs of rows.
                var few = kernel.UsesFew(tokens);
                var rowsPerJob = RowsPerJob(w.Rows, few ? 1 : tokens, Threads);
                if (kernel.Rows8 != null)
                {
                    // Whole groups; several tokens: at least eight groups, which the batched kernel runs tile by tile
                    // so each tile of activations is read from L1 by all of them.
                    if (tokens > 1 && !few)
                        rowsPerJob = Math.Max(rowsPerJob, Math.Min(w.Rows, GroupedRowsPerJob));
                    rowsPerJob = (rowsPerJob + Q4_0Rows8.Rows - 1) / Q4_0Rows8.Rows * Q4_0Rows8.Rows;
                }
                var rowJobs = (w.Rows + rowsPerJob - 1) / rowsPerJob;
                segments[i] = new MatMulSegment
                {
                    Kernel = kernel,
                    Weights = (byte*)w.Data,
                    RowBytes = (nint)w.RowBytes,
                    Rows = w.Rows,
                    Cols = cols,
                    Tokens = tokens,
                    Act = act,
                    ActStride = actStride,
                    Y = yp + offset,
                    RowsPerJob = rowsPerJob,
                    RowJobs = rowJobs,
                    FirstItem = items,
                    Paired = format == ActivationFormat.Q8_0Pairs,
                };
                items += rowJobs * tokenJobs;
                offset += (long)tokens * w.Rows;
            }
            Pool.For(items, new MatMulJob { Segments = segments, Count = weights.Length });
        }
    }

    /// <summary>Rows per work item of a regrouped Q4_0 matrix against several tokens: eight groups of eight.</summary>
    private const int GroupedRowsPerJob = 64;

    /// <summary>The most matrices <see cref="MatMulGroup"/> takes at once (Q, K, V).</summary>
    public const int MaxGroup = 4;

    /// <summary>Rows per work item: enough items to balance threads, few enough to keep claims cheap.</summary>
    private static int RowsPerJob(int rows, int tokens, int threads)
    {
        if (threads == 1)
            return tokens == 1 ? rows : Math.Min(rows, 16);
        if (tokens == 1)
        {
            // Decode streams weights from memory: long runs of rows keep the hardware prefetcher going and claims on
            // the shared counter rare; four items per thread still even out a thread that falls behind. (16 items of
            // at most 64 rows per thread measured 9 % slower whole-model decode here.)
            var items = threads * 4;
            return Math.Max(4, (rows + items - 1) / items);
        }
        return Math.Clamp(rows / (threads * 4), 4, 64);
    }

    private void QuantizeActivations(float* x, int cols, int tokens, byte* act, nint actStride, ActivationFormat format)
    {
        var job = new QuantizeJob { X = x, Cols = cols, Act = act, ActStride = actStride, Format = format };
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
        public ActivationFormat Format;

        public readonly void Execute(int index)
        {
            var x = X + (nint)index * Cols;
            var token = Act + index * ActStride;
            switch (Format)
            {
                case ActivationFormat.Q8_K:
                    ActivationQuant.QuantizeQ8_K(x, Cols, token);
                    break;
                case ActivationFormat.F16:
                    ActivationQuant.ConvertF16(x, Cols, token);
                    break;
                default:
                    ActivationQuant.QuantizeQ8_0(x, Cols, token);
                    break;
            }
        }
    }

    /// <summary>One matrix of a group: its rows x token blocks are items [FirstItem, FirstItem + RowJobs x token blocks).</summary>
    private struct MatMulSegment
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
        public int FirstItem;

        /// <summary>Act holds pairs of tokens (<see cref="ActivationPairs"/>), ActStride bytes apart.</summary>
        public bool Paired;
    }

    private struct MatMulJob : IParallelJob
    {
        public MatMulSegment* Segments;
        public int Count;

        public readonly void Execute(int index)
        {
            var s = Segments;
            for (var i = 1; i < Count && index >= Segments[i].FirstItem; i++)
                s = Segments + i;
            Run(s, index - s->FirstItem);
        }

        private static void Run(MatMulSegment* s, int index)
        {
            var rowJob = index % s->RowJobs;
            var tokenJob = index / s->RowJobs;
            var r0 = rowJob * s->RowsPerJob;
            var r1 = Math.Min(s->Rows, r0 + s->RowsPerJob);
            var t0 = tokenJob * TokenBlock;
            var t1 = Math.Min(s->Tokens, t0 + TokenBlock);
            var dot = s->Kernel.Dot;
            var dot4 = s->Kernel.Dot4;
            var weights = s->Weights;
            var rowBytes = s->RowBytes;
            var rows = s->Rows;
            var cols = s->Cols;
            var actStride = s->ActStride;
            if (s->Kernel.Rows8 != null)
            {
                RunGroups(s, r0, r1, t0, t1);
                return;
            }
            // Token quads outside, rows inside: one quad's activations stay in L1 while the rows (a few KB each)
            // come from L2. The order of (row, token) pairs does not change any single dot product.
            var dot2x4 = s->Kernel.Dot2x4;
            var dot4x4 = s->Kernel.Dot4x4;
            var t = t0;
            for (; t + 4 <= t1; t += 4)
            {
                var act = s->Act + t * actStride;
                var y = s->Y + (nint)t * rows;
                var r = r0;
                if (dot4x4 != null)
                {
                    for (; r + 4 <= r1; r += 4)
                        dot4x4(weights + r * rowBytes, rowBytes, act, actStride, cols, y + r, rows);
                }
                if (dot2x4 != null)
                {
                    for (; r + 2 <= r1; r += 2)
                        dot2x4(weights + r * rowBytes, rowBytes, act, actStride, cols, y + r, rows);
                }
                for (; r < r1; r++)
                    dot4(weights + r * rowBytes, act, actStride, cols, y + r, rows);
            }
            for (; t < t1; t++)
            {
                var act = s->Act + t * actStride;
                var y = s->Y + (nint)t * rows;
                for (var r = r0; r < r1; r++)
                    y[r] = dot(weights + r * rowBytes, act, cols);
            }
        }

        /// <summary>
        /// Rows [r0, r1) (whole groups of eight) of a regrouped matrix against tokens [t0, t1): one pass over each group
        /// for all the tokens, so a batch of decode positions reads each weight block once.
        /// </summary>
        private static void RunGroups(MatMulSegment* s, int r0, int r1, int t0, int t1)
        {
            var rows = s->Rows;
            var y = s->Y + (nint)t0 * rows;
            // Paired activations hold two tokens per stride; token blocks start at even tokens.
            var act = s->Act + (s->Paired ? t0 / 2 : t0) * s->ActStride;
            if (t1 - t0 == 1 && !s->Paired)
            {
                for (var r = r0; r < r1; r += Q4_0Rows8.Rows)
                    s->Kernel.Rows8(s->Weights + r * s->RowBytes, act, s->Cols, y + r);
                return;
            }
            if (!s->Paired && s->Kernel.UsesFew(t1 - t0))
            {
                s->Kernel.Rows8Few(s->Weights + r0 * s->RowBytes, Q4_0Rows8.Rows * s->RowBytes, (r1 - r0) / Q4_0Rows8.Rows,
                    act, s->ActStride, t1 - t0, s->Cols, y + r0, rows);
                return;
            }
            s->Kernel.Rows8xN(s->Weights + r0 * s->RowBytes, Q4_0Rows8.Rows * s->RowBytes, (r1 - r0) / Q4_0Rows8.Rows,
                act, s->ActStride, t1 - t0, s->Cols, y + r0, rows);
        }
    }
}
