using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Tessera.Training;

/// <summary>
/// The three f32 matrix products a linear layer needs, blocked in registers with Vector256 fused multiply-adds, on
/// row-major pointers (the callers pin their spans for the duration of the call).
/// Every output element is computed by the same sequence of operations whatever tile, task or thread it falls in:
/// y = x·wᵀ sums 8-wide lanes over k, then <see cref="Vector256.Sum{T}(Vector256{T})"/>, then a scalar tail; the two
/// accumulating products add their k terms one at a time in increasing k, starting from the output's value. So
/// results do not depend on the thread count, nor on how many rows are multiplied at once. The kernels are compiled
/// fully optimized at once: a step calls each only a few times, too few for tiered compilation to reach them soon.
/// </summary>
internal static unsafe class MatMul
{
    private const int RowBlock = 64, ColumnBlock = 64, KChunk = 256, ABColumns = 128;

    /// <summary>y[r, o] = Σₖ x[r, k] · w[o, k]; x [rows, k], w [n, k], y [rows, n] (overwritten).</summary>
    public static void ABt(float* y, float* x, float* w, int rows, int k, int n, int threads)
    {
        var job = new ABtJob { Y = y, X = x, W = w, Rows = rows, K = k, N = n, RowBlocks = Blocks(rows, RowBlock) };
        Parallelism.For(threads, job.RowBlocks * Blocks(n, ColumnBlock), job);
    }

    /// <summary>c[r, j] += Σₒ a[r, o] · b[o, j]; a [rows, k], b [k, n], c [rows, n]. (dx += dy · W.)</summary>
    public static void AB(float* c, float* a, float* b, int rows, int k, int n, int threads)
    {
        var job = new ABJob { C = c, A = a, B = b, Rows = rows, K = k, N = n, RowBlocks = Blocks(rows, RowBlock) };
        Parallelism.For(threads, job.RowBlocks * Blocks(n, ABColumns), job);
    }

    /// <summary>c[o, j] += Σᵣ a[r, o] · b[r, j]; a [rows, n], b [rows, m], c [n, m]. (dW += dyᵀ · x.)</summary>
    public static void AtB(float* c, float* a, float* b, int rows, int n, int m, int threads)
    {
        var job = new AtBJob { C = c, A = a, B = b, Rows = rows, N = n, M = m };
        Parallelism.For(threads, Blocks(n, 24), job);
    }

    private static int Blocks(int count, int size) => (count + size - 1) / size;

    /// <summary>The rows [r0, r1) and columns [c0, c1) of a task numbered row block first.</summary>
    private static (int R0, int R1, int C0, int C1) Block(int task, int rowBlocks, int rows, int columnBlock, int columns)
    {
        int r0 = task % rowBlocks * RowBlock, c0 = task / rowBlocks * columnBlock;
        return (r0, Math.Min(rows, r0 + RowBlock), c0, Math.Min(columns, c0 + columnBlock));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Vector256.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector256<float> lanes, float* x, float* w, int i, int k)
    {
        var sum = Vector256.Sum(lanes);
        for (; i < k; i++) sum = MathF.FusedMultiplyAdd(x[i], w[i], sum);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* x, float* w, int k)
    {
        var acc = Vector256<float>.Zero;
        var i = 0;
        for (; i <= k - 8; i += 8) acc = Fma(Vector256.Load(x + i), Vector256.Load(w + i), acc);
        return Finish(acc, x, w, i, k);
    }

    private struct ABtJob : IParallelJob
    {
        public float* Y, X, W;
        public int Rows, K, N, RowBlocks;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int task)
        {
            var (r0, r1, o0, o1) = Block(task, RowBlocks, Rows, ColumnBlock, N);
            var k = K;
            var o = o0;
            for (; o + 2 <= o1; o += 2)
            {
                float* w0 = W + (long)o * k, w1 = w0 + k;
                var r = r0;
                for (; r + 4 <= r1; r += 4) Tile4x2(X + (long)r * k, w0, w1, Y + (long)r * N + o, k, N);
                for (; r < r1; r++)
                {
                    Y[(long)r * N + o] = Dot(X + (long)r * k, w0, k);
                    Y[(long)r * N + o + 1] = Dot(X + (long)r * k, w1, k);
                }
            }
            for (; o < o1; o++)
                for (var r = r0; r < r1; r++) Y[(long)r * N + o] = Dot(X + (long)r * k, W + (long)o * k, k);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Tile4x2(float* x, float* w0, float* w1, float* y, int k, int n)
        {
            float* x0 = x, x1 = x + k, x2 = x1 + k, x3 = x2 + k;
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default,
                a20 = default, a21 = default, a30 = default, a31 = default;
            var i = 0;
            for (; i <= k - 8; i += 8)
            {
                var v0 = Vector256.Load(w0 + i);
                var v1 = Vector256.Load(w1 + i);
                var u = Vector256.Load(x0 + i);
                a00 = Fma(u, v0, a00); a01 = Fma(u, v1, a01);
                u = Vector256.Load(x1 + i);
                a10 = Fma(u, v0, a10); a11 = Fma(u, v1, a11);
                u = Vector256.Load(x2 + i);
                a20 = Fma(u, v0, a20); a21 = Fma(u, v1, a21);
                u = Vector256.Load(x3 + i);
                a30 = Fma(u, v0, a30); a31 = Fma(u, v1, a31);
            }
            y[0] = Finish(a00, x0, w0, i, k); y[1] = Finish(a01, x0, w1, i, k);
            y[n] = Finish(a10, x1, w0, i, k); y[n + 1] = Finish(a11, x1, w1, i, k);
            y[2 * n] = Finish(a20, x2, w0, i, k); y[2 * n + 1] = Finish(a21, x2, w1, i, k);
            y[3 * n] = Finish(a30, x3, w0, i, k); y[3 * n + 1] = Finish(a31, x3, w1, i, k);
        }
    }

    /// <summary>Tasks are blocks of 64 rows by 128 columns (so each task reads its rows of a once: for the output
    /// head a is dLogits, 32 MB); the k terms go in chunks of 256 (so a chunk of b stays in cache across the block's
    /// rows), each element still adding them in increasing k. Tiles of 6 rows by 16 columns keep 12 FMA chains going.</summary>
    private struct ABJob : IParallelJob
    {
        public float* C, A, B;
        public int Rows, K, N, RowBlocks;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int task)
        {
            var (r0, r1, j0, j1) = Block(task, RowBlocks, Rows, ABColumns, N);
            for (var k0 = 0; k0 < K; k0 += KChunk)
            {
                var k1 = Math.Min(K, k0 + KChunk);
                var r = r0;
                for (; r + 6 <= r1; r += 6)
                {
                    var j = j0;
                    for (; j + 16 <= j1; j += 16) Tile6x16(r, j, k0, k1);
                    for (; j + 8 <= j1; j += 8)
                    {
                        Tile4x8(r, j, k0, k1);
                        for (var q = r + 4; q < r + 6; q++)
                            for (var jj = j; jj < j + 8; jj++) Scalar(q, jj, k0, k1);
                    }
                    for (; j < j1; j++)
                        for (var q = r; q < r + 6; q++) Scalar(q, j, k0, k1);
                }
                for (; r + 4 <= r1; r += 4)
                {
                    var j = j0;
                    for (; j + 8 <= j1; j += 8) Tile4x8(r, j, k0, k1);
                    for (; j < j1; j++)
                        for (var q = r; q < r + 4; q++) Scalar(q, j, k0, k1);
                }
                for (; r < r1; r++)
                    for (var j = j0; j < j1; j++) Scalar(r, j, k0, k1);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Scalar(int r, int j, int k0, int k1)
        {
            var c = C + (long)r * N + j;
            var sum = *c;
            for (var o = k0; o < k1; o++) sum = MathF.FusedMultiplyAdd(A[(long)r * K + o], B[(long)o * N + j], sum);
            *c = sum;
        }

        /// <summary>Six rows by 16 columns: 12 accumulators, enough independent FMA chains to cover the FMA latency.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Tile6x16(int r, int j, int k0, int k1)
        {
            float* c0 = C + (long)r * N + j, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N, c4 = c3 + N, c5 = c4 + N;
            float* a0 = A + (long)r * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K, a4 = a3 + K, a5 = a4 + K;
            Vector256<float> s00 = Vector256.Load(c0), s01 = Vector256.Load(c0 + 8), s10 = Vector256.Load(c1), s11 = Vector256.Load(c1 + 8),
                s20 = Vector256.Load(c2), s21 = Vector256.Load(c2 + 8), s30 = Vector256.Load(c3), s31 = Vector256.Load(c3 + 8),
                s40 = Vector256.Load(c4), s41 = Vector256.Load(c4 + 8), s50 = Vector256.Load(c5), s51 = Vector256.Load(c5 + 8);
            for (var o = k0; o < k1; o++)
            {
                var b = B + (long)o * N + j;
                var v0 = Vector256.Load(b);
                var v1 = Vector256.Load(b + 8);
                var u = Vector256.Create(a0[o]);
                s00 = Fma(u, v0, s00); s01 = Fma(u, v1, s01);
                u = Vector256.Create(a1[o]);
                s10 = Fma(u, v0, s10); s11 = Fma(u, v1, s11);
                u = Vector256.Create(a2[o]);
                s20 = Fma(u, v0, s20); s21 = Fma(u, v1, s21);
                u = Vector256.Create(a3[o]);
                s30 = Fma(u, v0, s30); s31 = Fma(u, v1, s31);
                u = Vector256.Create(a4[o]);
                s40 = Fma(u, v0, s40); s41 = Fma(u, v1, s41);
                u = Vector256.Create(a5[o]);
                s50 = Fma(u, v0, s50); s51 = Fma(u, v1, s51);
            }
            s00.Store(c0); s01.Store(c0 + 8); s10.Store(c1); s11.Store(c1 + 8);
            s20.Store(c2); s21.Store(c2 + 8); s30.Store(c3); s31.Store(c3 + 8);
            s40.Store(c4); s41.Store(c4 + 8); s50.Store(c5); s51.Store(c5 + 8);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Tile4x8(int r, int j, int k0, int k1)
        {
            float* c0 = C + (long)r * N + j, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N;
            float* a0 = A + (long)r * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
            Vector256<float> s0 = Vector256.Load(c0), s1 = Vector256.Load(c1), s2 = Vector256.Load(c2), s3 = Vector256.Load(c3);
            for (var o = k0; o < k1; o++)
            {
                var v = Vector256.Load(B + (long)o * N + j);
                s0 = Fma(Vector256.Create(a0[o]), v, s0);
                s1 = Fma(Vector256.Create(a1[o]), v, s1);
                s2 = Fma(Vector256.Create(a2[o]), v, s2);
                s3 = Fma(Vector256.Create(a3[o]), v, s3);
            }
            s0.Store(c0); s1.Store(c1); s2.Store(c2); s3.Store(c3);
        }
    }

    /// <summary>Tasks are blocks of 24 outputs (rows of c); each element adds the rows' terms in increasing r.</summary>
    private struct AtBJob : IParallelJob
    {
        public float* C, A, B;
        public int Rows, N, M;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int task)
        {
            int o0 = task * 24, o1 = Math.Min(N, o0 + 24);
            var o = o0;
            for (; o + 6 <= o1; o += 6)
            {
                var j = 0;
                for (; j + 16 <= M; j += 16) Tile6x16(o, j);
                for (; j < M; j++)
                    for (var q = o; q < o + 6; q++) Scalar(q, j);
            }
            for (; o + 4 <= o1; o += 4)
            {
                var j = 0;
                for (; j + 8 <= M; j += 8) Tile4x8(o, j);
                for (; j < M; j++)
                    for (var q = o; q < o + 4; q++) Scalar(q, j);
            }
            for (; o < o1; o++)
                for (var j = 0; j < M; j++) Scalar(o, j);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Scalar(int o, int j)
        {
            var c = C + (long)o * M + j;
            var sum = *c;
            for (var r = 0; r < Rows; r++) sum = MathF.FusedMultiplyAdd(A[(long)r * N + o], B[(long)r * M + j], sum);
            *c = sum;
        }

        /// <summary>Six outputs by 16 columns: 12 accumulators.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Tile6x16(int o, int j)
        {
            float* c0 = C + (long)o * M + j, c1 = c0 + M, c2 = c1 + M, c3 = c2 + M, c4 = c3 + M, c5 = c4 + M;
            Vector256<float> s00 = Vector256.Load(c0), s01 = Vector256.Load(c0 + 8), s10 = Vector256.Load(c1), s11 = Vector256.Load(c1 + 8),
                s20 = Vector256.Load(c2), s21 = Vector256.Load(c2 + 8), s30 = Vector256.Load(c3), s31 = Vector256.Load(c3 + 8),
                s40 = Vector256.Load(c4), s41 = Vector256.Load(c4 + 8), s50 = Vector256.Load(c5), s51 = Vector256.Load(c5 + 8);
            for (var r = 0; r < Rows; r++)
            {
                var b = B + (long)r * M + j;
                var a = A + (long)r * N + o;
                var v0 = Vector256.Load(b);
                var v1 = Vector256.Load(b + 8);
                var u = Vector256.Create(a[0]);
                s00 = Fma(u, v0, s00); s01 = Fma(u, v1, s01);
                u = Vector256.Create(a[1]);
                s10 = Fma(u, v0, s10); s11 = Fma(u, v1, s11);
                u = Vector256.Create(a[2]);
                s20 = Fma(u, v0, s20); s21 = Fma(u, v1, s21);
                u = Vector256.Create(a[3]);
                s30 = Fma(u, v0, s30); s31 = Fma(u, v1, s31);
                u = Vector256.Create(a[4]);
                s40 = Fma(u, v0, s40); s41 = Fma(u, v1, s41);
                u = Vector256.Create(a[5]);
                s50 = Fma(u, v0, s50); s51 = Fma(u, v1, s51);
            }
            s00.Store(c0); s01.Store(c0 + 8); s10.Store(c1); s11.Store(c1 + 8);
            s20.Store(c2); s21.Store(c2 + 8); s30.Store(c3); s31.Store(c3 + 8);
            s40.Store(c4); s41.Store(c4 + 8); s50.Store(c5); s51.Store(c5 + 8);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Tile4x8(int o, int j)
        {
            float* c0 = C + (long)o * M + j, c1 = c0 + M, c2 = c1 + M, c3 = c2 + M;
            Vector256<float> s0 = Vector256.Load(c0), s1 = Vector256.Load(c1), s2 = Vector256.Load(c2), s3 = Vector256.Load(c3);
            for (var r = 0; r < Rows; r++)
            {
                var v = Vector256.Load(B + (long)r * M + j);
                var a = A + (long)r * N + o;
                s0 = Fma(Vector256.Create(a[0]), v, s0);
                s1 = Fma(Vector256.Create(a[1]), v, s1);
                s2 = Fma(Vector256.Create(a[2]), v, s2);
                s3 = Fma(Vector256.Create(a[3]), v, s3);
            }
            s0.Store(c0); s1.Store(c1); s2.Store(c2); s3.Store(c3);
        }
    }
}
