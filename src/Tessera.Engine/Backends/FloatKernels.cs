using System.Runtime.Intrinsics.X86;
using System.Runtime.InteropServices;
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
            var scale = GgmlMath.RmsScale(row, eps);
            var outRow = y.Slice(t * width, width);
            TensorPrimitives.Multiply(row, scale, outRow);
            TensorPrimitives.Multiply(outRow, weight, outRow);
        }
    }

    /// <summary>
    /// output = silu(gate) * up, as llama.cpp computes it (<see cref="GgmlMath.Silu(Vector512{float})"/> over groups of
    /// 16, its scalar form after them, then the product); <paramref name="output"/> may be the same memory as
    /// <paramref name="gate"/>.
    /// </summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (gate.Length > up.Length || gate.Length > output.Length)
            throw new ArgumentException("SwiGlu buffers differ in length.");
        var i = 0;
        if (Avx512F.IsSupported)
        {
            ref var g = ref MemoryMarshal.GetReference(gate);
            ref var u = ref MemoryMarshal.GetReference(up);
            ref var o = ref MemoryMarshal.GetReference(output);
            for (; i + 16 <= gate.Length; i += 16)
                (GgmlMath.Silu(Vector512.LoadUnsafe(ref g, (nuint)i)) * Vector512.LoadUnsafe(ref u, (nuint)i)).StoreUnsafe(ref o, (nuint)i);
        }
        for (; i < gate.Length; i++)
            output[i] = GgmlMath.Silu(gate[i]) * up[i];
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

    /// <summary>
    /// Attention for every query row and heads <c>[firstHead, firstHead + headCount)</c>, in llama.cpp's numerics (its
    /// non-flash CPU path): the query rounded to f16 meets the f16 keys, the scaled scores go through
    /// <see cref="SoftMax"/>, the probabilities are rounded to f16 and meet the values. A decoded token's products follow
    /// <c>ggml_vec_dot_f16</c> (<see cref="DotF16"/>, <see cref="ValuesF16"/>); a prompt row's
    /// (<see cref="AttentionShape.PromptRows"/>) follow llamafile's tinyBLAS, which llama.cpp uses for a batch of two or
    /// more tokens (<see cref="DotF16TinyBlas"/>, <see cref="ValuesF16TinyBlas"/>). llama.cpp pads its view of the KV
    /// cache to 32 cells with masked ones; the orders below include that padding (masked cells add exact zeros), and
    /// so do positions before a sliding window. A soft cap is applied as llama.cpp's graph does: times (1 / cap),
    /// tanh, times cap. The result of a query depends on its position, the cache and whether it is a prompt row, never
    /// on the other queries of the batch. <paramref name="scores"/> holds at least <c>StartPosition + Tokens</c> floats.
    /// </summary>
    public static void Attention(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in AttentionShape shape, int firstHead, int headCount, Span<float> scores)
    {
        var d = shape.HeadDim;
        var qWidth = shape.QueryWidth;
        var kvWidth = shape.KvWidth;
        var group = shape.Heads / shape.KvHeads;
        var maxVisible = shape.StartPosition + shape.Tokens;
        if (queries.Length < shape.Tokens * qWidth || output.Length < shape.Tokens * qWidth || keys.Length < maxVisible * kvWidth
            || values.Length < maxVisible * kvWidth || scores.Length < maxVisible)
            throw new ArgumentException("Attention buffers are smaller than the shape needs.");
        Span<float> qh = stackalloc float[d];
        var accumulators = d <= 128 ? stackalloc float[ValueLanes * d] : new float[ValueLanes * d];
        for (var t = 0; t < shape.Tokens; t++)
        {
            var visible = shape.StartPosition + t + 1;
            var s = scores[..visible];
            // tinyBLAS takes f16 products only when the shared length is a multiple of 16 (else ggml's own path).
            var tinyBlas = t < shape.PromptRows && d % 16 == 0;
            for (var h = firstHead; h < firstHead + headCount; h++)
            {
                queries.Slice(t * qWidth + h * d, d).CopyTo(qh);
                RoundToHalf(qh);
                var kvOffset = h / group * d;
                var first = shape.FirstVisible(visible - 1);
                s[..first].Fill(float.NegativeInfinity);
                for (var j = first; j < visible; j++)
                {
                    var key = keys.Slice(j * kvWidth + kvOffset, d);
                    s[j] = (tinyBlas ? DotF16TinyBlas(key, qh) : DotF16(key, qh)) * shape.Scale;
                }
                if (shape.SoftCap > 0)
                    SoftCap(s[first..], shape.SoftCap);
                SoftMax(s);
                RoundToHalf(s);
                if (tinyBlas)
                    ValuesF16TinyBlas(s, values[kvOffset..], kvWidth, output.Slice(t * qWidth + h * d, d), accumulators);
                else
                    ValuesF16(s, values[kvOffset..], kvWidth, output.Slice(t * qWidth + h * d, d), accumulators);
            }
        }
    }

    /// <summary>
    /// ggml's soft max of a row that is not padded (a router's logits): <c>ggml_vec_soft_max_f32</c> takes exp(x - max)
    /// by <see cref="GgmlMath.Exp"/> over whole groups of 16, each group's sum by <see cref="GgmlMath.ReduceAdd"/>, and
    /// the C library's expf for the rest, every sum added in double; then every value times <c>(float)(1 / sum)</c>.
    /// </summary>
    public static void SoftMaxRow(Span<float> row)
    {
        var max = float.NegativeInfinity;
        foreach (var x in row)
            max = Math.Max(max, x);
        double sum = 0;
        var i = 0;
        var vmax = Vector512.Create(max);
        for (; i + 16 <= row.Length; i += 16)
        {
            var e = GgmlMath.Exp(Vector512.Create((ReadOnlySpan<float>)row.Slice(i, 16)) - vmax);
            e.CopyTo(row.Slice(i, 16));
            sum += GgmlMath.ReduceAdd(e);
        }
        for (; i < row.Length; i++)
        {
            var e = MathF.Exp(row[i] - max);
            sum += e;
            row[i] = e;
        }
        TensorPrimitives.Multiply(row, (float)(1.0 / sum), row);
    }

    /// <summary>
    /// x = cap * tanh(x * (1 / cap)) in place, as llama.cpp's graph computes a soft cap (<c>ggml_scale</c>,
    /// <c>ggml_tanh</c>, <c>ggml_scale</c>: every step rounded to float).
    /// </summary>
    public static void SoftCap(Span<float> x, float cap)
    {
        var inverse = 1.0f / cap;
        foreach (ref var v in x)
            v = GgmlMath.Tanh(v * inverse) * cap;
    }

    /// <summary>output = gelu(gate) * up, GELU as llama.cpp evaluates it (<see cref="GgmlMath.Gelu"/>), then the product.</summary>
    public static void GeGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (gate.Length > up.Length || gate.Length > output.Length)
            throw new ArgumentException("GeGlu buffers differ in length.");
        for (var i = 0; i < gate.Length; i++)
            output[i] = GgmlMath.Gelu(gate[i]) * up[i];
    }

    /// <summary>Cells of llama.cpp's KV cache view for <paramref name="visible"/> positions (padded to 32).</summary>
    private static int PaddedCells(int visible) => (visible + 31) & ~31;

    // ggml_vec_dot_f16 with AVX-512: four accumulators of 16 lanes over each 64 elements, then the tail in double.
    private const int ValueLanes = 64;

    /// <summary>
    /// ggml's <c>ggml_vec_dot_f16</c> order (values are f16 already, so every product is exact): the first
    /// <c>n &amp; ~63</c> products into four 16-lane accumulators by fused multiply-add, reduced as (a0 + a2) + (a1 + a3)
    /// and then by <see cref="GgmlMath.ReduceAdd"/>; the rest added in double; the sum rounded to float once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float DotF16(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        var n = x.Length;
        var np = n & ~(ValueLanes - 1);
        double sum = 0;
        if (np > 0)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            ref var xr = ref MemoryMarshal.GetReference(x);
            ref var yr = ref MemoryMarshal.GetReference(y);
            for (var i = 0; i < np; i += ValueLanes)
            {
                var u = (nuint)i;
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, u), Vector512.LoadUnsafe(ref yr, u), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, u + 16), Vector512.LoadUnsafe(ref yr, u + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, u + 32), Vector512.LoadUnsafe(ref yr, u + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, u + 48), Vector512.LoadUnsafe(ref yr, u + 48), a3);
            }
            sum = GgmlMath.ReduceAdd((a0 + a2) + (a1 + a3));
        }
        for (var i = np; i < n; i++)
            sum += x[i] * y[i];
        return (float)sum;
    }

    /// <summary>
    /// tinyBLAS's order for an f16 product (llamafile_sgemm with AVX-512, what llama.cpp uses for a batch of two or more
    /// tokens): one 16-lane accumulator, element i into lane <c>i % 16</c> by fused multiply-add in order, then
    /// <see cref="GgmlMath.ReduceAdd"/>. The length is a multiple of 16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float DotF16TinyBlas(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length % 16 != 0 || y.Length < x.Length)
            throw new ArgumentException("tinyBLAS products take lengths that are multiples of 16.");
        var acc = Vector512<float>.Zero;
        ref var xr = ref MemoryMarshal.GetReference(x);
        ref var yr = ref MemoryMarshal.GetReference(y);
        for (nuint i = 0; i < (nuint)x.Length; i += 16)
            acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, i), Vector512.LoadUnsafe(ref yr, i), acc);
        return GgmlMath.ReduceAdd(acc);
    }

    /// <summary>
    /// ggml's soft max of one row in place (<c>ggml_vec_soft_max_f32</c>): exp(x - max) by <see cref="GgmlMath.Exp"/>
    /// over groups of 16 of the padded row (masked cells give 0), each group's sum by <see cref="GgmlMath.ReduceAdd"/>
    /// added in double, then every value times <c>(float)(1 / sum)</c>.
    /// </summary>
    internal static void SoftMax(Span<float> row)
    {
        var max = float.NegativeInfinity;
        foreach (var x in row)
            max = Math.Max(max, x);
        // Groups past the visible cells hold only masked cells, whose sums are 0: only groups with a visible cell count.
        double sum = 0;
        Span<float> group = stackalloc float[16];
        var vmax = Vector512.Create(max);
        var g = 0;
        for (; g + 16 <= row.Length; g += 16)
        {
            var e = GgmlMath.Exp(Vector512.Create((ReadOnlySpan<float>)row.Slice(g, 16)) - vmax);
            e.CopyTo(row.Slice(g, 16));
            sum += GgmlMath.ReduceAdd(e);
        }
        if (g < row.Length)
        {
            var n = row.Length - g;
            row.Slice(g, n).CopyTo(group);
            group[n..].Fill(float.NegativeInfinity);
            var e = GgmlMath.Exp(Vector512.Create((ReadOnlySpan<float>)group) - vmax);
            e.CopyTo(group);
            group[..n].CopyTo(row.Slice(g, n));
            sum += GgmlMath.ReduceAdd(e);
        }
        var inverse = (float)(1.0 / sum);
        TensorPrimitives.Multiply(row, inverse, row);
    }

    /// <summary>
    /// o[c] = sum over cells j of v[j][c] * p[j] in <see cref="DotF16"/>'s order over the padded cells (llama.cpp stores
    /// V transposed, so each output element is one such dot product): cell j feeds accumulator <c>j % 64</c> while
    /// j &lt; <c>padded &amp; ~63</c>, the rest is added in double. Vectorized across c; <paramref name="accumulators"/>
    /// holds 64 x d floats.
    /// </summary>
    internal static void ValuesF16(ReadOnlySpan<float> p, ReadOnlySpan<float> v, int vStride, Span<float> o, Span<float> accumulators)
    {
        var d = o.Length;
        var visible = p.Length;
        var np = PaddedCells(visible) & ~(ValueLanes - 1);
        Span<double> sum = stackalloc double[d];
        sum.Clear();
        if (np > 0)
        {
            var acc = accumulators[..(ValueLanes * d)];
            AccumulateLanes(p[..Math.Min(visible, np)], v, vStride, d, ValueLanes, acc);
            // Lane l of accumulator group k is accumulator 16k + l: (a0 + a2) + (a1 + a3) lane by lane, then the 16-lane
            // tree of GgmlMath.ReduceAdd. In place over acc.
            for (var l = 0; l < 16; l++)
                AddRows(acc, l, l + 32, l + 16, l + 48, d);
            ReduceSixteenRows(acc, d);
            for (var c = 0; c < d; c++)
                sum[c] = acc[c];
        }
        if (d % 8 == 0 && Avx512F.IsSupported)
        {
            // The tail in double, 8 outputs at a time: float products (exact for f16 values) widened, then added.
            ref var vr = ref MemoryMarshal.GetReference(v);
            ref var sr = ref MemoryMarshal.GetReference(sum);
            for (nuint c = 0; c < (nuint)d; c += 8)
            {
                var total = Vector512.LoadUnsafe(ref sr, c);
                for (var j = np; j < visible; j++)
                    total += Avx512F.ConvertToVector512Double(Vector256.LoadUnsafe(ref vr, (nuint)(j * vStride) + c) * Vector256.Create(p[j]));
                Avx512F.ConvertToVector256Single(total).StoreUnsafe(ref MemoryMarshal.GetReference(o), c);
            }
            return;
        }
        for (var j = np; j < visible; j++)
        {
            var row = v.Slice(j * vStride, d);
            for (var c = 0; c < d; c++)
                sum[c] += row[c] * p[j];
        }
        for (var c = 0; c < d; c++)
            o[c] = (float)sum[c];
    }

    /// <summary>
    /// The same sums in <see cref="DotF16TinyBlas"/>'s order (a prompt row): cell j feeds lane <c>j % 16</c> over every
    /// visible cell (the padding adds exact zeros), then the 16-lane tree; no double tail. d is a multiple of 16;
    /// <paramref name="accumulators"/> holds at least 16 x d floats.
    /// </summary>
    internal static void ValuesF16TinyBlas(ReadOnlySpan<float> p, ReadOnlySpan<float> v, int vStride, Span<float> o, Span<float> accumulators)
    {
        var d = o.Length;
        var acc = accumulators[..(16 * d)];
        AccumulateLanes(p, v, vStride, d, 16, acc);
        ReduceSixteenRows(acc, d);
        acc[..d].CopyTo(o);
    }

    /// <summary>
    /// Row m of <paramref name="acc"/> (d floats) = the fused multiply-add chain over cells m, m + lanes, m + 2 lanes, ...
    /// of v[j][c] * p[j], in that order, for every cell of <paramref name="p"/>.
    /// </summary>
    private static void AccumulateLanes(ReadOnlySpan<float> p, ReadOnlySpan<float> v, int vStride, int d, int lanes, Span<float> acc)
    {
        var upto = p.Length;
        ref var ar = ref MemoryMarshal.GetReference(acc);
        ref var vr = ref MemoryMarshal.GetReference(v);
        if (d % 64 == 0)
        {
            // Walk each lane's cells with its accumulator in registers, 64 outputs at a time (each output's sum is the
            // same sequence of fused multiply-adds).
            for (var cc = 0; cc < d; cc += 64)
            {
                for (var m = 0; m < lanes; m++)
                {
                    Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
                    for (var j = m; j < upto; j += lanes)
                    {
                        var row = (nuint)(j * vStride + cc);
                        var pj = Vector512.Create(p[j]);
                        c0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vr, row), pj, c0);
                        c1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vr, row + 16), pj, c1);
                        c2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vr, row + 32), pj, c2);
                        c3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vr, row + 48), pj, c3);
                    }
                    var a = (nuint)(m * d + cc);
                    c0.StoreUnsafe(ref ar, a);
                    c1.StoreUnsafe(ref ar, a + 16);
                    c2.StoreUnsafe(ref ar, a + 32);
                    c3.StoreUnsafe(ref ar, a + 48);
                }
            }
            return;
        }
        acc[..(lanes * d)].Clear();
        var vectors = d % 16 == 0;
        for (var j = 0; j < upto; j++)
        {
            var a = (nuint)(j % lanes * d);
            var row = (nuint)(j * vStride);
            if (vectors)
            {
                var pj = Vector512.Create(p[j]);
                for (nuint c = 0; c < (nuint)d; c += 16)
                    Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vr, row + c), pj, Vector512.LoadUnsafe(ref ar, a + c)).StoreUnsafe(ref ar, a + c);
            }
            else
            {
                for (var c = 0; c < d; c++)
                    acc[(int)a + c] = MathF.FusedMultiplyAdd(v[(int)row + c], p[j], acc[(int)a + c]);
            }
        }
    }

    /// <summary>
    /// Rows 0..15 of <paramref name="acc"/> are the 16 lanes of each output: <see cref="GgmlMath.ReduceAdd"/>'s tree
    /// (l + 8 onto l, l + 4 onto l, then (0 + 2) + (1 + 3)) lane by lane, the result in row 0.
    /// </summary>
    private static void ReduceSixteenRows(Span<float> acc, int d)
    {
        for (var l = 0; l < 8; l++)
            AddRows(acc, l, l + 8, -1, -1, d);
        for (var l = 0; l < 4; l++)
            AddRows(acc, l, l + 4, -1, -1, d);
        AddRows(acc, 0, 2, 1, 3, d);
    }

    /// <summary>Row x = x + y, or with <paramref name="z"/> &gt;= 0: x = (x + y) + (z + w), rows of d floats in <paramref name="acc"/>.</summary>
    private static void AddRows(Span<float> acc, int x, int y, int z, int w, int d)
    {
        var rx = acc.Slice(x * d, d);
        var ry = acc.Slice(y * d, d);
        if (z < 0)
        {
            TensorPrimitives.Add(rx, ry, rx);
            return;
        }
        var rz = acc.Slice(z * d, d);
        var rw = acc.Slice(w * d, d);
        TensorPrimitives.Add(rx, ry, rx);
        TensorPrimitives.Add(rz, rw, rz);
        TensorPrimitives.Add(rx, rz, rx);
    }
}
