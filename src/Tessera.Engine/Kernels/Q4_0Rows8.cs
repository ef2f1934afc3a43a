using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Q4_0 matrices whose rows come in groups of eight, in llama.cpp's arithmetic for them (on x86 it repacks such
/// matrices eight rows at a time): per row, each block's 32 integer products are summed exactly, then
/// <c>acc = fma(isum, dw * da, acc)</c> block after block. Results agree with llama.cpp bit for bit, which keeps the
/// 8-bit activation roundings of the next product the same (docs/engine.md).
/// </summary>
/// <remarks>
/// Copied weights are repacked at load (<see cref="Repack"/>) so one 256-bit vector holds a block of all eight rows:
/// per group of eight rows and per block, the eight f16 scales (16 bytes) then four chunks of 32 bytes, chunk c lane r
/// holding bytes 4c..4c+3 of row r's quants (weights 4c..4c+3 in the low nibbles, 16+4c.. in the high). A group takes
/// the same bytes as its eight rows did, at the same place. Matrices read from the memory map keep the file's layout
/// and use <see cref="RowDot"/>, the same arithmetic one row at a time.
/// </remarks>
internal static unsafe class Q4_0Rows8
{
    public const int Rows = 8;
    private const int BlockBytes = 18;
    private const int GroupBlockBytes = Rows * BlockBytes; // 144
    private const float Pow2To112 = 5.192296858534828e33f;

    /// <summary>Rewrites <paramref name="rows"/> rows (a multiple of 8) of <paramref name="cols"/> Q4_0 weights into the grouped layout.</summary>
    public static void Repack(byte* source, byte* destination, int rows, int cols)
    {
        if (rows % Rows != 0 || cols % 32 != 0)
            throw new ArgumentException($"Grouped Q4_0 needs rows in eights and whole blocks, not {rows} x {cols}.");
        var nb = cols / 32;
        var rowBytes = (nint)nb * BlockBytes;
        for (var g = 0; g < rows / Rows; g++)
        {
            var src = source + g * Rows * rowBytes;
            var dst = destination + g * Rows * rowBytes;
            for (var b = 0; b < nb; b++)
            {
                var group = dst + b * GroupBlockBytes;
                for (var r = 0; r < Rows; r++)
                {
                    var block = src + r * rowBytes + b * BlockBytes;
                    ((ushort*)group)[r] = *(ushort*)block;
                    for (var c = 0; c < 4; c++)
                        *(uint*)(group + 16 + 32 * c + 4 * r) = *(uint*)(block + 2 + 4 * c);
                }
            }
        }
    }

    /// <summary>Eight rows (the group at <paramref name="group"/>) against one token: y[0..8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemv8(byte* group, byte* act, int cols, float* y)
    {
        if (!Avx2.IsSupported)
        {
            ScalarGemv8(group, act, cols, y);
            return;
        }
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        var sv = ActivationQuant.Q8_0Sv(act, cols);
        var acc = Vector256<float>.Zero;
        for (var b = 0; b < nb; b++)
        {
            var g = group + b * GroupBlockBytes;
            var x = qs + 32 * b;
            var isum = BlockSums(g, x, Offset(sv, b));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), Scales(g) * Vector256.Create(da[b]), acc);
        }
        acc.Store(y);
    }

    /// <summary>Eight rows against four tokens: y[t * yStride + r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm8x4(byte* group, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        if (!Avx2.IsSupported)
        {
            for (var t = 0; t < 4; t++)
                ScalarGemv8(group, act + t * actStride, cols, y + t * yStride);
            return;
        }
        var nb = cols / 32;
        byte* a0 = act, a1 = act + actStride, a2 = act + 2 * actStride, a3 = act + 3 * actStride;
        sbyte* x0 = ActivationQuant.Q8_0Qs(a0), x1 = ActivationQuant.Q8_0Qs(a1), x2 = ActivationQuant.Q8_0Qs(a2), x3 = ActivationQuant.Q8_0Qs(a3);
        float* d0 = ActivationQuant.Q8_0D(a0, cols), d1 = ActivationQuant.Q8_0D(a1, cols), d2 = ActivationQuant.Q8_0D(a2, cols), d3 = ActivationQuant.Q8_0D(a3, cols);
        int* s0 = ActivationQuant.Q8_0Sv(a0, cols), s1 = ActivationQuant.Q8_0Sv(a1, cols), s2 = ActivationQuant.Q8_0Sv(a2, cols), s3 = ActivationQuant.Q8_0Sv(a3, cols);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        var mask = Vector256.Create((byte)0x0F);
        for (var b = 0; b < nb; b++)
        {
            var g = group + b * GroupBlockBytes;
            var raw0 = Vector256.Load(g + 16);
            var raw1 = Vector256.Load(g + 48);
            var raw2 = Vector256.Load(g + 80);
            var raw3 = Vector256.Load(g + 112);
            var lo0 = raw0 & mask; var hi0 = Vector256.ShiftRightLogical(raw0.AsUInt16(), 4).AsByte() & mask;
            var lo1 = raw1 & mask; var hi1 = Vector256.ShiftRightLogical(raw1.AsUInt16(), 4).AsByte() & mask;
            var lo2 = raw2 & mask; var hi2 = Vector256.ShiftRightLogical(raw2.AsUInt16(), 4).AsByte() & mask;
            var lo3 = raw3 & mask; var hi3 = Vector256.ShiftRightLogical(raw3.AsUInt16(), 4).AsByte() & mask;
            var dw = Scales(g);
            c0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sums(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x0 + 32 * b, Offset(s0, b))), dw * Vector256.Create(d0[b]), c0);
            c1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sums(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x1 + 32 * b, Offset(s1, b))), dw * Vector256.Create(d1[b]), c1);
            c2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sums(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x2 + 32 * b, Offset(s2, b))), dw * Vector256.Create(d2[b]), c2);
            c3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sums(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, x3 + 32 * b, Offset(s3, b))), dw * Vector256.Create(d3[b]), c3);
        }
        c0.Store(y);
        c1.Store(y + yStride);
        c2.Store(y + 2 * yStride);
        c3.Store(y + 3 * yStride);
    }

    /// <summary>The same arithmetic for one row in the file's layout (memory-mapped weights): one (row, token) pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float RowDot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        var sv = ActivationQuant.Q8_0Sv(act, cols);
        float acc = 0;
        for (var b = 0; b < nb; b++)
        {
            var block = w + b * BlockBytes;
            int isum;
            if (Avx2.IsSupported)
            {
                var raw = Vector128.Load(block + 2);
                var q = Vector256.Create(raw, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
                var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, Vector256.Load(qs + 32 * b)), Vector256<short>.One);
                isum = Vector256.Sum(p32) - Offset(sv, b);
            }
            else
            {
                isum = -Offset(sv, b);
                for (var j = 0; j < 16; j++)
                    isum += (block[2 + j] & 0xF) * qs[32 * b + j] + (block[2 + j] >> 4) * qs[32 * b + 16 + j];
            }
            acc = MathF.FusedMultiplyAdd(isum, Fp16.ToSingle(*(ushort*)block) * da[b], acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowDot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            y[t * yStride] = RowDot(w, act + t * actStride, cols);
    }

    /// <summary>The grouped layout one value at a time: the reference the vector kernels reproduce.</summary>
    public static void ScalarGemv8(byte* group, byte* act, int cols, float* y)
    {
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        for (var r = 0; r < Rows; r++)
        {
            float acc = 0;
            for (var b = 0; b < nb; b++)
            {
                var g = group + b * GroupBlockBytes;
                var isum = 0;
                for (var c = 0; c < 4; c++)
                {
                    for (var k = 0; k < 4; k++)
                    {
                        var v = g[16 + 32 * c + 4 * r + k];
                        isum += ((v & 0xF) - 8) * qs[32 * b + 4 * c + k] + ((v >> 4) - 8) * qs[32 * b + 16 + 4 * c + k];
                    }
                }
                acc = MathF.FusedMultiplyAdd(isum, Fp16.ToSingle(((ushort*)g)[r]) * da[b], acc);
            }
            y[r] = acc;
        }
    }

    public static void ScalarGemm8x4(byte* group, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            ScalarGemv8(group, act + t * actStride, cols, y + t * yStride);
    }

    /// <summary>8 x the sum of block <paramref name="b"/>'s activation quants (the nibbles' offset of 8, taken off at once).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Offset(int* sv, int b)
    {
        var lanes = sv + 8 * b;
        return 8 * (lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7]);
    }

    /// <summary>The eight rows' f16 scales of one block as floats (exact for finite values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales(byte* g)
    {
        var h = Vector256.ShiftLeft(Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)g)), 16);
        return (Vector256.ShiftRightArithmetic(h, 3) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(Pow2To112);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockSums(byte* g, sbyte* x, int offset)
    {
        var mask = Vector256.Create((byte)0x0F);
        var raw0 = Vector256.Load(g + 16);
        var raw1 = Vector256.Load(g + 48);
        var raw2 = Vector256.Load(g + 80);
        var raw3 = Vector256.Load(g + 112);
        return Sums(raw0 & mask, Vector256.ShiftRightLogical(raw0.AsUInt16(), 4).AsByte() & mask,
            raw1 & mask, Vector256.ShiftRightLogical(raw1.AsUInt16(), 4).AsByte() & mask,
            raw2 & mask, Vector256.ShiftRightLogical(raw2.AsUInt16(), 4).AsByte() & mask,
            raw3 & mask, Vector256.ShiftRightLogical(raw3.AsUInt16(), 4).AsByte() & mask, x, offset);
    }

    /// <summary>
    /// Lane r: the exact sum over the block of (weight - 8) x activation for row r. Chunk c's lanes hold weights
    /// 4c..4c+3 (low nibbles) and 16+4c.. (high) of every row, met by the same four activations broadcast. The 16-bit
    /// partial sums stay below 8 x 2 x 15 x 127 = 30480, so they never saturate.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sums(Vector256<byte> lo0, Vector256<byte> hi0, Vector256<byte> lo1, Vector256<byte> hi1,
        Vector256<byte> lo2, Vector256<byte> hi2, Vector256<byte> lo3, Vector256<byte> hi3, sbyte* x, int offset)
    {
        var p = Avx2.MultiplyAddAdjacent(lo0, Vector256.Create(*(int*)x).AsSByte())
            + Avx2.MultiplyAddAdjacent(hi0, Vector256.Create(*(int*)(x + 16)).AsSByte())
            + Avx2.MultiplyAddAdjacent(lo1, Vector256.Create(*(int*)(x + 4)).AsSByte())
            + Avx2.MultiplyAddAdjacent(hi1, Vector256.Create(*(int*)(x + 20)).AsSByte())
            + Avx2.MultiplyAddAdjacent(lo2, Vector256.Create(*(int*)(x + 8)).AsSByte())
            + Avx2.MultiplyAddAdjacent(hi2, Vector256.Create(*(int*)(x + 24)).AsSByte())
            + Avx2.MultiplyAddAdjacent(lo3, Vector256.Create(*(int*)(x + 12)).AsSByte())
            + Avx2.MultiplyAddAdjacent(hi3, Vector256.Create(*(int*)(x + 28)).AsSByte());
        return Avx2.MultiplyAddAdjacent(p, Vector256<short>.One) - Vector256.Create(offset);
    }
}
