using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Backends;

/// <summary>
/// The element-wise functions of llama.cpp's CPU backend, value for value, so activations agree with it bit for bit
/// rather than within an ulp: a one-ulp difference in front of an 8-bit activation quantization flips a rounding now
/// and then, and a random model amplifies such flips (see docs/engine.md, agreement with llama.cpp).
/// </summary>
internal static class GgmlMath
{
    /// <summary>
    /// ggml's 16-lane <c>ggml_v_expf</c> (AVX-512 form, after ARM's optimized routine: at most 1.5 ulp from exp,
    /// 0 below -103.97, infinity above 88.38).
    /// </summary>
    public static Vector512<float> Exp(Vector512<float> x)
    {
        if (!Avx512F.IsSupported)
        {
            Span<float> lanes = stackalloc float[16];
            x.CopyTo(lanes);
            for (var i = 0; i < 16; i++)
                lanes[i] = Exp(lanes[i]);
            return Vector512.Create((ReadOnlySpan<float>)lanes);
        }
        var r = C(0x4b400000); // 0x1.8p23
        var z = Avx512F.FusedMultiplyAdd(x, C(0x3fb8aa3b), r); // log2(e)
        var n = z - r;
        var b = Avx512F.FusedMultiplyAddNegated(n, C(0x35bfbe8e), Avx512F.FusedMultiplyAddNegated(n, C(0x3f317200), x));
        var u = b * b;
        var j = Avx512F.FusedMultiplyAdd(
            Avx512F.FusedMultiplyAdd(Avx512F.FusedMultiplyAdd(C(0x3c072010), b, C(0x3d2b9f17)), u,
                Avx512F.FusedMultiplyAdd(C(0x3e2aaf33), b, C(0x3efffedb))),
            u,
            Avx512F.FusedMultiplyAdd(C(0x3f7ffff6), b, Vector512<float>.One));
        var result = Avx512F.Scale(j, n);
        var huge = Vector512.GreaterThan(Vector512.Abs(n), Vector512.Create(192f));
        if (huge == Vector512<float>.Zero)
            return result;
        var overflow = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(n, Vector512<float>.Zero), Vector512<float>.Zero, Vector512.Create(float.PositiveInfinity));
        return Vector512.ConditionalSelect(huge, overflow, result);
    }

    /// <summary>One lane of <see cref="Exp(Vector512{float})"/>, step for step (the same bits; for machines without AVX-512).</summary>
    public static float Exp(float x)
    {
        const float r = 12582912f; // 0x1.8p23
        var z = MathF.FusedMultiplyAdd(x, F(0x3fb8aa3b), r);
        var n = z - r;
        var b = MathF.FusedMultiplyAdd(-n, F(0x35bfbe8e), MathF.FusedMultiplyAdd(-n, F(0x3f317200), x));
        var u = b * b;
        var j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(F(0x3c072010), b, F(0x3d2b9f17)), u, MathF.FusedMultiplyAdd(F(0x3e2aaf33), b, F(0x3efffedb))),
            u,
            MathF.FusedMultiplyAdd(F(0x3f7ffff6), b, 1f));
        if (MathF.Abs(n) > 192f)
            return n <= 0 ? 0f : float.PositiveInfinity;
        return MathF.ScaleB(j, (int)n);
    }

    /// <summary>ggml's SiLU of 16 lanes: x / (1 + exp(-x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Silu(Vector512<float> x) => x / (Vector512<float>.One + Exp(Vector512<float>.Zero - x));

    /// <summary>ggml's scalar SiLU (<c>ggml_silu_f32</c>), used after the last whole group of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Silu(float x) => x / (1.0f + MathF.Exp(-x));

    /// <summary>
    /// tanh as llama.cpp computes it: the C library's <c>tanhf</c> (what <see cref="MathF.Tanh"/> calls on Linux). Its last
    /// bit varies between C library versions; a correctly rounded tanh through double agreed less with llama.cpp's
    /// reference outputs (Gemma 2's soft caps, docs/engine.md).
    /// </summary>
    public static float Tanh(float x) => MathF.Tanh(x);

    /// <summary>
    /// ggml's GELU (<c>ggml_vec_gelu_f32</c> with its default f16 table): 0 at or below -10, x at or above 10, else the
    /// table's value at x rounded to f16.
    /// </summary>
    public static float Gelu(float x) => x <= -10f ? 0f : x >= 10f ? x : Kernels.Fp16.ToSingle(GeluTable.Value[Kernels.Fp16.FromSingle(x)]);

    /// <summary>
    /// <c>ggml_table_gelu_f16</c>: for every f16 value h, f16(gelu(h)) with gelu(x) = (0.5 x) (1 + tanh((c x) fma(a x, x, 1)))
    /// as GCC compiles ggml's <c>ggml_gelu_f32</c> (it fuses a x x + 1 into one fused multiply-add).
    /// </summary>
    public static readonly Lazy<ushort[]> GeluTable = new(() =>
    {
        const float a = 0.044715f;
        const float c = 0.79788456080286535587989211986876f;
        var table = new ushort[1 << 16];
        for (var i = 0; i < table.Length; i++)
        {
            var x = Kernels.Fp16.ToSingle((ushort)i);
            table[i] = Kernels.Fp16.FromSingle(0.5f * x * (1.0f + Tanh(c * x * MathF.FusedMultiplyAdd(a * x, x, 1.0f))));
        }
        return table;
    });

    /// <summary>GCC's <c>_mm512_reduce_add_ps</c>: halves added (256, then 128 bits), then [0]+[2], [1]+[3], then those two.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReduceAdd(Vector512<float> v)
    {
        var h = v.GetUpper() + v.GetLower();
        var q = h.GetUpper() + h.GetLower();
        return (q.GetElement(0) + q.GetElement(2)) + (q.GetElement(1) + q.GetElement(3));
    }

    /// <summary>
    /// llama.cpp's RMS norm scale: the squares (each rounded to float) summed in double, the mean rounded to float,
    /// then <c>1 / sqrt(mean + eps)</c> in float. Double sums of float squares are exact up to 2^-53, so the order
    /// of the additions (vectorized here) does not change the float mean.
    /// </summary>
    public static float RmsScale(ReadOnlySpan<float> x, float eps)
    {
        var i = 0;
        var sum = Vector256<double>.Zero;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var start = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            for (; i + 4 <= x.Length; i += 4)
            {
                var v = Vector128.LoadUnsafe(ref start, (nuint)i);
                sum += Avx.ConvertToVector256Double(v * v);
            }
        }
        var total = Vector256.Sum(sum);
        for (; i < x.Length; i++)
            total += (double)(x[i] * x[i]);
        var mean = (float)(total / x.Length);
        return 1.0f / MathF.Sqrt(mean + eps);
    }

    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> C(uint bits) => Vector512.Create(BitConverter.UInt32BitsToSingle(bits));
}
