using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tessera.Engine.Model;

namespace Tessera.Engine.Backends;

/// <summary>
/// The float parts of a transformer layer (norm, activation, attention) as plain functions over spans,
/// vectorised through TensorPrimitives. Backends call them, possibly split across threads.
/// </summary>
public static class FloatKernels
{
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int tokens, float eps)
    {
        var width = weight.Length;
        for (var t = 0; t < tokens; t++)
        {
            var row = x.Slice(t * width, width);
            var mean = TensorPrimitives.SumOfSquares(row) / width;
            var scale = 1f / MathF.Sqrt(mean + eps);
            var outRow = y.Slice(t * width, width);
            TensorPrimitives.Multiply(row, scale, outRow);
            TensorPrimitives.Multiply(outRow, weight, outRow);
        }
    }

    /// <summary>output = silu(gate) * up; <paramref name="output"/> may be the same memory as <paramref name="gate"/>.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        Span<float> tmp = stackalloc float[256];
        for (var i = 0; i < gate.Length; i += tmp.Length)
        {
            var n = Math.Min(tmp.Length, gate.Length - i);
            var t = tmp[..n];
            var g = gate.Slice(i, n);
            TensorPrimitives.Sigmoid(g, t);
            TensorPrimitives.Multiply(t, g, t);
            TensorPrimitives.Multiply(t, up.Slice(i, n), output.Slice(i, n));
        }
    }

    public static void Rope(Span<float> x, int tokens, int heads, int headDim, int startPosition, RopeTable table)
    {
        var width = heads * headDim;
        for (var t = 0; t < tokens; t++)
            table.Apply(x.Slice(t * width, width), heads, headDim, startPosition + t);
    }

    /// <summary>Rounds every value to the nearest f16 (what llama.cpp's f16 KV cache and f16 matrix inputs hold).</summary>
    public static void RoundToHalf(Span<float> values)
    {
        Span<Half> tmp = stackalloc Half[256];
        for (var i = 0; i < values.Length; i += tmp.Length)
        {
            var n = Math.Min(tmp.Length, values.Length - i);
            var chunk = values.Slice(i, n);
            TensorPrimitives.ConvertToHalf(chunk, tmp[..n]);
            TensorPrimitives.ConvertToSingle(tmp[..n], chunk);
        }
    }

    /// <summary>Rounds every value to the nearest bfloat16 (round half to even on the dropped 16 bits).</summary>
    public static void RoundToBFloat16(Span<float> values)
    {
        foreach (ref var v in values)
        {
            var bits = BitConverter.SingleToUInt32Bits(v);
            if ((bits & 0x7F800000) != 0x7F800000)
                bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
            v = BitConverter.UInt32BitsToSingle(bits);
        }
    }

    /// <summary>Queries computed together by <see cref="Attention"/>: each loaded key or value row serves this many.</summary>
    public const int AttentionQueryBlock = 4;

    /// <summary>
    /// Attention for the query rows <c>[firstToken, firstToken + tokenCount)</c> and heads <c>[firstHead, firstHead + headCount)</c>.
    /// <paramref name="scores"/> holds at least <c>StartPosition + Tokens</c> floats; with
    /// <see cref="AttentionQueryBlock"/> times that, blocks of queries share each key and value row.
    /// </summary>
    /// <remarks>
    /// Every output is bit-identical to <see cref="AttentionPerPair"/> (one <c>TensorPrimitives.Dot</c> per query and
    /// key): the vectorised score of a pair adds the same products in the same order, and each output element
    /// accumulates <c>o + v * p</c> over the keys in order, whatever the block.
    /// </remarks>
    public static void Attention(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in AttentionShape shape, int firstHead, int headCount, Span<float> scores)
    {
        var d = shape.HeadDim;
        if (!Vector512.IsHardwareAccelerated || d % Vector512<float>.Count != 0 || d > 128 || !DotMatchesBlocked)
        {
            AttentionPerPair(queries, keys, values, output, shape, firstHead, headCount, scores);
            return;
        }
        var maxVisible = shape.StartPosition + shape.Tokens;
        var block = scores.Length >= AttentionQueryBlock * maxVisible ? AttentionQueryBlock : 1;
        var qWidth = shape.QueryWidth;
        var kvWidth = shape.KvWidth;
        var group = shape.Heads / shape.KvHeads;
        if (queries.Length < shape.Tokens * qWidth || output.Length < shape.Tokens * qWidth || keys.Length < maxVisible * kvWidth || values.Length < maxVisible * kvWidth)
            throw new ArgumentException("Attention buffers are smaller than the shape needs.");
        Span<float> qb = stackalloc float[AttentionQueryBlock * d];
        unsafe
        {
            fixed (float* qp = queries)
            fixed (float* kp = keys)
            fixed (float* vp = values)
            fixed (float* op = output)
            fixed (float* sp = scores)
            fixed (float* qbp = qb)
            {
                for (var h = firstHead; h < firstHead + headCount; h++)
                {
                    var kvOffset = h / group * d;
                    for (var t0 = 0; t0 < shape.Tokens; t0 += block)
                    {
                        var n = Math.Min(block, shape.Tokens - t0);
                        var first = shape.StartPosition + t0 + 1; // keys visible to every query of the block
                        // As llama.cpp: the query meets the f16 key cache as f16, probabilities meet values as f16.
                        for (var i = 0; i < n; i++)
                            queries.Slice((t0 + i) * qWidth + h * d, d).CopyTo(qb.Slice(i * d, d));
                        RoundToHalf(qb[..(n * d)]);
                        BlockScores(qbp, n, kp + kvOffset, kvWidth, d, first, sp, maxVisible, shape.Scale);
                        for (var i = 0; i < n; i++)
                        {
                            var s = new Span<float>(sp + i * maxVisible, first + i);
                            TensorPrimitives.SoftMax(s, s);
                            RoundToHalf(s);
                        }
                        BlockValues(sp, maxVisible, n, vp + kvOffset, kvWidth, d, first, op + (nint)t0 * qWidth + h * d, qWidth);
                    }
                }
            }
        }
    }

    /// <summary>One <c>TensorPrimitives.Dot</c> per (query, key) pair: the reference the blocked kernel reproduces.</summary>
    public static void AttentionPerPair(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in AttentionShape shape, int firstHead, int headCount, Span<float> scores)
    {
        var qWidth = shape.QueryWidth;
        var kvWidth = shape.KvWidth;
        var d = shape.HeadDim;
        var group = shape.Heads / shape.KvHeads;
        Span<float> qh = stackalloc float[d];
        for (var t = 0; t < shape.Tokens; t++)
        {
            var visible = shape.StartPosition + t + 1;
            var s = scores[..visible];
            for (var h = firstHead; h < firstHead + headCount; h++)
            {
                // As llama.cpp: the query meets the f16 key cache as f16, probabilities meet values as f16.
                queries.Slice(t * qWidth + h * d, d).CopyTo(qh);
                RoundToHalf(qh);
                ReadOnlySpan<float> q = qh;
                var kvOffset = h / group * d;
                for (var j = 0; j < visible; j++)
                    s[j] = TensorPrimitives.Dot(q, keys.Slice(j * kvWidth + kvOffset, d)) * shape.Scale;
                TensorPrimitives.SoftMax(s, s);
                RoundToHalf(s);
                var o = output.Slice(t * qWidth + h * d, d);
                o.Clear();
                for (var j = 0; j < visible; j++)
                    TensorPrimitives.MultiplyAdd(values.Slice(j * kvWidth + kvOffset, d), s[j], o, o);
            }
        }
    }

    /// <summary>
    /// Whether <see cref="Dot512"/> reproduces <c>TensorPrimitives.Dot</c> bit for bit on this runtime (checked once on
    /// values whose sums round differently in different orders); if not, attention takes the per-pair path.
    /// </summary>
    internal static readonly bool DotMatchesBlocked = CheckDotOrder();

    private static unsafe bool CheckDotOrder()
    {
        if (!Vector512.IsHardwareAccelerated)
            return false;
        var random = new Random(12345);
        var a = new float[128];
        var b = new float[128];
        for (var trial = 0; trial < 64; trial++)
        {
            for (var i = 0; i < a.Length; i++)
            {
                a[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-8, 9)));
                b[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-8, 9)));
            }
            for (var d = 16; d <= 128; d += 16)
            {
                fixed (float* ap = a)
                fixed (float* bp = b)
                {
                    if (BitConverter.SingleToInt32Bits(Dot512(ap, bp, d)) != BitConverter.SingleToInt32Bits(TensorPrimitives.Dot(a.AsSpan(0, d), b.AsSpan(0, d))))
                        return false;
                }
            }
        }
        return true;
    }

    /// <summary>
    /// The dot product of <paramref name="d"/> (a multiple of 16, at most 128) floats in <c>TensorPrimitives.Dot</c>'s
    /// order for such lengths: zero plus the products of vector 0, then of vectors 1.. in order added to one accumulator
    /// (non-fused), then an empty tail (+0), then <c>Vector512.Sum</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float Dot512(float* q, float* k, int d)
    {
        var acc = Vector512<float>.Zero + Vector512.Load(q) * Vector512.Load(k);
        for (var c = 16; c < d; c += 16)
            acc += Vector512.Load(q + c) * Vector512.Load(k + c);
        return Vector512.Sum(acc + Vector512<float>.Zero);
    }

    /// <summary>
    /// Scores of <paramref name="n"/> queries (rows of <paramref name="q"/>, d floats each) against keys
    /// <c>[0, first + i)</c> for query i, into rows of <paramref name="scoreStride"/> floats. Keys <c>[0, first)</c>
    /// are loaded once for all queries.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BlockScores(float* q, int n, float* k, int kStride, int d, int first, float* s, int scoreStride, float scale)
    {
        if (n == AttentionQueryBlock && d == 64)
        {
            // The common head size: the four queries stay in registers, each key row is loaded once.
            var q00 = Vector512.Load(q); var q01 = Vector512.Load(q + 16); var q02 = Vector512.Load(q + 32); var q03 = Vector512.Load(q + 48);
            var q10 = Vector512.Load(q + 64); var q11 = Vector512.Load(q + 80); var q12 = Vector512.Load(q + 96); var q13 = Vector512.Load(q + 112);
            var q20 = Vector512.Load(q + 128); var q21 = Vector512.Load(q + 144); var q22 = Vector512.Load(q + 160); var q23 = Vector512.Load(q + 176);
            var q30 = Vector512.Load(q + 192); var q31 = Vector512.Load(q + 208); var q32 = Vector512.Load(q + 224); var q33 = Vector512.Load(q + 240);
            for (var j = 0; j < first; j++)
            {
                var kr = k + (nint)j * kStride;
                var k0 = Vector512.Load(kr); var k1 = Vector512.Load(kr + 16); var k2 = Vector512.Load(kr + 32); var k3 = Vector512.Load(kr + 48);
                s[j] = Vector512.Sum(Vector512<float>.Zero + q00 * k0 + q01 * k1 + q02 * k2 + q03 * k3 + Vector512<float>.Zero) * scale;
                s[scoreStride + j] = Vector512.Sum(Vector512<float>.Zero + q10 * k0 + q11 * k1 + q12 * k2 + q13 * k3 + Vector512<float>.Zero) * scale;
                s[2 * scoreStride + j] = Vector512.Sum(Vector512<float>.Zero + q20 * k0 + q21 * k1 + q22 * k2 + q23 * k3 + Vector512<float>.Zero) * scale;
                s[3 * scoreStride + j] = Vector512.Sum(Vector512<float>.Zero + q30 * k0 + q31 * k1 + q32 * k2 + q33 * k3 + Vector512<float>.Zero) * scale;
            }
        }
        else
        {
            for (var j = 0; j < first; j++)
                for (var i = 0; i < n; i++)
                    s[i * scoreStride + j] = Dot512(q + i * d, k + (nint)j * kStride, d) * scale;
        }
        // The causal triangle: key first + m is visible to queries m + 1 and later.
        for (var i = 1; i < n; i++)
            for (var j = first; j < first + i; j++)
                s[i * scoreStride + j] = Dot512(q + i * d, k + (nint)j * kStride, d) * scale;
    }

    /// <summary>
    /// o_i = sum over keys j &lt; first + i of v_j * p_ij, accumulated in key order (o = o + v * p, from zero) into
    /// output rows of <paramref name="oStride"/> floats. A chunk of 64 output floats of every query stays in
    /// registers while the value rows stream.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BlockValues(float* p, int pStride, int n, float* v, int vStride, int d, int first, float* o, int oStride)
    {
        var c = 0;
        if (n == AttentionQueryBlock)
        {
            for (; c + 64 <= d; c += 64)
            {
                Vector512<float> o00 = default, o01 = default, o02 = default, o03 = default;
                Vector512<float> o10 = default, o11 = default, o12 = default, o13 = default;
                Vector512<float> o20 = default, o21 = default, o22 = default, o23 = default;
                Vector512<float> o30 = default, o31 = default, o32 = default, o33 = default;
                for (var j = 0; j < first; j++)
                {
                    var vr = v + (nint)j * vStride + c;
                    var v0 = Vector512.Load(vr); var v1 = Vector512.Load(vr + 16); var v2 = Vector512.Load(vr + 32); var v3 = Vector512.Load(vr + 48);
                    var p0 = Vector512.Create(p[j]);
                    o00 += v0 * p0; o01 += v1 * p0; o02 += v2 * p0; o03 += v3 * p0;
                    var p1 = Vector512.Create(p[pStride + j]);
                    o10 += v0 * p1; o11 += v1 * p1; o12 += v2 * p1; o13 += v3 * p1;
                    var p2 = Vector512.Create(p[2 * pStride + j]);
                    o20 += v0 * p2; o21 += v1 * p2; o22 += v2 * p2; o23 += v3 * p2;
                    var p3 = Vector512.Create(p[3 * pStride + j]);
                    o30 += v0 * p3; o31 += v1 * p3; o32 += v2 * p3; o33 += v3 * p3;
                }
                o00.Store(o + c); o01.Store(o + c + 16); o02.Store(o + c + 32); o03.Store(o + c + 48);
                o10.Store(o + oStride + c); o11.Store(o + oStride + c + 16); o12.Store(o + oStride + c + 32); o13.Store(o + oStride + c + 48);
                o20.Store(o + 2 * oStride + c); o21.Store(o + 2 * oStride + c + 16); o22.Store(o + 2 * oStride + c + 32); o23.Store(o + 2 * oStride + c + 48);
                o30.Store(o + 3 * oStride + c); o31.Store(o + 3 * oStride + c + 16); o32.Store(o + 3 * oStride + c + 32); o33.Store(o + 3 * oStride + c + 48);
            }
        }
        for (var i = 0; i < n; i++)
        {
            var pi = p + i * pStride;
            var oi = o + i * oStride;
            for (var cc = c; cc < d; cc += 16)
            {
                var acc = Vector512<float>.Zero;
                for (var j = 0; j < first; j++)
                    acc += Vector512.Load(v + (nint)j * vStride + cc) * Vector512.Create(pi[j]);
                acc.Store(oi + cc);
            }
        }
        // The causal triangle, continuing each query's sum in key order.
        for (var i = 1; i < n; i++)
        {
            var pi = p + i * pStride;
            var oi = o + i * oStride;
            for (var cc = 0; cc < d; cc += 16)
            {
                var acc = Vector512.Load(oi + cc);
                for (var j = first; j < first + i; j++)
                    acc += Vector512.Load(v + (nint)j * vStride + cc) * Vector512.Create(pi[j]);
                acc.Store(oi + cc);
            }
        }
    }
}
