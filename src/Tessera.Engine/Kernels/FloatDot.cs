using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>Loads float weights of one storage type (F32, F16, BF16) as float vectors.</summary>
internal unsafe interface IFloatWeights
{
    static abstract float Load1(byte* w, int i);
    static abstract Vector256<float> Load8(byte* w, int i);
    static abstract Vector512<float> Load16(byte* w, int i);
}

internal readonly unsafe struct F32Weights : IFloatWeights
{
    public static float Load1(byte* w, int i) => ((float*)w)[i];
    public static Vector256<float> Load8(byte* w, int i) => Vector256.Load((float*)w + i);
    public static Vector512<float> Load16(byte* w, int i) => Vector512.Load((float*)w + i);
}

/// <summary>
/// IEEE half weights. The vector conversion is exact for finite values (sign-extend, shift the exponent and mantissa
/// into place, multiply by 2^112, which also handles subnormals); infinities and NaNs become large finite values,
/// which weights never hold.
/// </summary>
internal readonly unsafe struct F16Weights : IFloatWeights
{
    private const float Pow2To112 = 5.192296858534828e33f;

    public static float Load1(byte* w, int i) => Fp16.ToSingle(((ushort*)w)[i]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* w, int i)
    {
        var h = Avx2.ConvertToVector256Int32((short*)w + i);
        var bits = Vector256.ShiftLeft(h, 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector256.Create(Pow2To112);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* w, int i)
    {
        var h = Avx512F.ConvertToVector512Int32(Vector256.Load((short*)w + i));
        var bits = Vector512.ShiftLeft(h, 13) & Vector512.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector512.Create(Pow2To112);
    }
}

internal readonly unsafe struct BF16Weights : IFloatWeights
{
    public static float Load1(byte* w, int i) => Fp16.BF16ToSingle(((ushort*)w)[i]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* w, int i) =>
        Vector256.ShiftLeft(Avx2.ConvertToVector256Int32((ushort*)w + i), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* w, int i) =>
        Vector512.ShiftLeft(Avx512F.ConvertToVector512Int32(Vector256.Load((ushort*)w + i)), 16).AsSingle();
}

/// <summary>
/// Dot products of float-typed weight rows with float activations. Each (row, token) dot has one fixed order:
/// two vector accumulators over alternating vectors, a scalar tail, then one reduction, the same in the one-token
/// and the four-token kernels.
/// </summary>
internal static unsafe class FloatDot<TW> where TW : struct, IFloatWeights
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Scalar(byte* w, byte* act, int cols)
    {
        var x = (float*)act;
        float sum = 0;
        for (var i = 0; i < cols; i++)
            sum += TW.Load1(w, i) * x[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Scalar, w, act, actStride, cols, y, yStride);

    // ---- 256-bit ----
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        var x = (float*)act;
        Vector256<float> a0 = default, a1 = default;
        var i = 0;
        for (; i + 16 <= cols; i += 16)
        {
            a0 = Fma.MultiplyAdd(TW.Load8(w, i), Vector256.Load(x + i), a0);
            a1 = Fma.MultiplyAdd(TW.Load8(w, i + 8), Vector256.Load(x + i + 8), a1);
        }
        float tail = 0;
        for (; i < cols; i++)
            tail += TW.Load1(w, i) * x[i];
        return Vector256.Sum(a0 + a1) + tail;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        float* x0 = (float*)act, x1 = (float*)(act + actStride), x2 = (float*)(act + 2 * actStride), x3 = (float*)(act + 3 * actStride);
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
        var i = 0;
        for (; i + 16 <= cols; i += 16)
        {
            var w0 = TW.Load8(w, i);
            var w1 = TW.Load8(w, i + 8);
            a00 = Fma.MultiplyAdd(w0, Vector256.Load(x0 + i), a00);
            a01 = Fma.MultiplyAdd(w1, Vector256.Load(x0 + i + 8), a01);
            a10 = Fma.MultiplyAdd(w0, Vector256.Load(x1 + i), a10);
            a11 = Fma.MultiplyAdd(w1, Vector256.Load(x1 + i + 8), a11);
            a20 = Fma.MultiplyAdd(w0, Vector256.Load(x2 + i), a20);
            a21 = Fma.MultiplyAdd(w1, Vector256.Load(x2 + i + 8), a21);
            a30 = Fma.MultiplyAdd(w0, Vector256.Load(x3 + i), a30);
            a31 = Fma.MultiplyAdd(w1, Vector256.Load(x3 + i + 8), a31);
        }
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (; i < cols; i++)
        {
            var wi = TW.Load1(w, i);
            t0 += wi * x0[i];
            t1 += wi * x1[i];
            t2 += wi * x2[i];
            t3 += wi * x3[i];
        }
        y[0] = Vector256.Sum(a00 + a01) + t0;
        y[yStride] = Vector256.Sum(a10 + a11) + t1;
        y[2 * yStride] = Vector256.Sum(a20 + a21) + t2;
        y[3 * yStride] = Vector256.Sum(a30 + a31) + t3;
    }

    // ---- 512-bit ----
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx512Dot(byte* w, byte* act, int cols) => Avx512Dot<F32Weights>(w, act, (float*)act, cols);

    /// <summary>
    /// <see cref="Avx512Dot"/> over the F16 activation layout, reading the activations as f16 (exact: they are f16
    /// values): same products in the same order, so the same result, with half the activation bytes in cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx512DotHalves(byte* w, byte* act, int cols) =>
        Avx512Dot<F16Weights>(w, (byte*)ActivationQuant.F16Halves(act, cols), (float*)act, cols);

    /// <summary>One token's product; <typeparamref name="TX"/> reads the activation vectors at <paramref name="vectors"/>, the tail reads <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Avx512Dot<TX>(byte* w, byte* vectors, float* x, int cols) where TX : struct, IFloatWeights
    {
        Vector512<float> a0 = default, a1 = default;
        var i = 0;
        for (; i + 32 <= cols; i += 32)
        {
            a0 = Avx512F.FusedMultiplyAdd(TW.Load16(w, i), TX.Load16(vectors, i), a0);
            a1 = Avx512F.FusedMultiplyAdd(TW.Load16(w, i + 16), TX.Load16(vectors, i + 16), a1);
        }
        float tail = 0;
        for (; i < cols; i++)
            tail += TW.Load1(w, i) * x[i];
        return Vector512.Sum(a0 + a1) + tail;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        float* x0 = (float*)act, x1 = (float*)(act + actStride), x2 = (float*)(act + 2 * actStride), x3 = (float*)(act + 3 * actStride);
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector512<float> a20 = default, a21 = default, a30 = default, a31 = default;
        var i = 0;
        for (; i + 32 <= cols; i += 32)
        {
            var w0 = TW.Load16(w, i);
            var w1 = TW.Load16(w, i + 16);
            a00 = Avx512F.FusedMultiplyAdd(w0, Vector512.Load(x0 + i), a00);
            a01 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x0 + i + 16), a01);
            a10 = Avx512F.FusedMultiplyAdd(w0, Vector512.Load(x1 + i), a10);
            a11 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x1 + i + 16), a11);
            a20 = Avx512F.FusedMultiplyAdd(w0, Vector512.Load(x2 + i), a20);
            a21 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x2 + i + 16), a21);
            a30 = Avx512F.FusedMultiplyAdd(w0, Vector512.Load(x3 + i), a30);
            a31 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x3 + i + 16), a31);
        }
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (; i < cols; i++)
        {
            var wi = TW.Load1(w, i);
            t0 += wi * x0[i];
            t1 += wi * x1[i];
            t2 += wi * x2[i];
            t3 += wi * x3[i];
        }
        y[0] = Vector512.Sum(a00 + a01) + t0;
        y[yStride] = Vector512.Sum(a10 + a11) + t1;
        y[2 * yStride] = Vector512.Sum(a20 + a21) + t2;
        y[3 * yStride] = Vector512.Sum(a30 + a31) + t3;
    }

    /// <summary>
    /// Two rows (<paramref name="w"/>, <paramref name="w"/> + <paramref name="rowBytes"/>) against four tokens: each
    /// loaded activation vector serves both rows, so prefill does twice the multiply-adds per load. Every (row, token)
    /// keeps <see cref="Avx512Dot"/>'s order, so results are bit-identical to it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Dot2x4(byte* w, nint rowBytes, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var v = w + rowBytes;
        float* x0 = (float*)act, x1 = (float*)(act + actStride), x2 = (float*)(act + 2 * actStride), x3 = (float*)(act + 3 * actStride);
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector512<float> b00 = default, b01 = default, b10 = default, b11 = default, b20 = default, b21 = default, b30 = default, b31 = default;
        var i = 0;
        for (; i + 32 <= cols; i += 32)
        {
            var w0 = TW.Load16(w, i);
            var w1 = TW.Load16(w, i + 16);
            var v0 = TW.Load16(v, i);
            var v1 = TW.Load16(v, i + 16);
            var x = Vector512.Load(x0 + i);
            a00 = Avx512F.FusedMultiplyAdd(w0, x, a00);
            b00 = Avx512F.FusedMultiplyAdd(v0, x, b00);
            x = Vector512.Load(x0 + i + 16);
            a01 = Avx512F.FusedMultiplyAdd(w1, x, a01);
            b01 = Avx512F.FusedMultiplyAdd(v1, x, b01);
            x = Vector512.Load(x1 + i);
            a10 = Avx512F.FusedMultiplyAdd(w0, x, a10);
            b10 = Avx512F.FusedMultiplyAdd(v0, x, b10);
            x = Vector512.Load(x1 + i + 16);
            a11 = Avx512F.FusedMultiplyAdd(w1, x, a11);
            b11 = Avx512F.FusedMultiplyAdd(v1, x, b11);
            x = Vector512.Load(x2 + i);
            a20 = Avx512F.FusedMultiplyAdd(w0, x, a20);
            b20 = Avx512F.FusedMultiplyAdd(v0, x, b20);
            x = Vector512.Load(x2 + i + 16);
            a21 = Avx512F.FusedMultiplyAdd(w1, x, a21);
            b21 = Avx512F.FusedMultiplyAdd(v1, x, b21);
            x = Vector512.Load(x3 + i);
            a30 = Avx512F.FusedMultiplyAdd(w0, x, a30);
            b30 = Avx512F.FusedMultiplyAdd(v0, x, b30);
            x = Vector512.Load(x3 + i + 16);
            a31 = Avx512F.FusedMultiplyAdd(w1, x, a31);
            b31 = Avx512F.FusedMultiplyAdd(v1, x, b31);
        }
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0, u0 = 0, u1 = 0, u2 = 0, u3 = 0;
        for (; i < cols; i++)
        {
            var wi = TW.Load1(w, i);
            var vi = TW.Load1(v, i);
            t0 += wi * x0[i];
            t1 += wi * x1[i];
            t2 += wi * x2[i];
            t3 += wi * x3[i];
            u0 += vi * x0[i];
            u1 += vi * x1[i];
            u2 += vi * x2[i];
            u3 += vi * x3[i];
        }
        y[0] = Vector512.Sum(a00 + a01) + t0;
        y[yStride] = Vector512.Sum(a10 + a11) + t1;
        y[2 * yStride] = Vector512.Sum(a20 + a21) + t2;
        y[3 * yStride] = Vector512.Sum(a30 + a31) + t3;
        y[1] = Vector512.Sum(b00 + b01) + u0;
        y[yStride + 1] = Vector512.Sum(b10 + b11) + u1;
        y[2 * yStride + 1] = Vector512.Sum(b20 + b21) + u2;
        y[3 * yStride + 1] = Vector512.Sum(b30 + b31) + u3;
    }
}
