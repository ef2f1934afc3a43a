using System.Buffers.Binary;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>
/// Q2_K, Q3_K and IQ4_XS against references written here from ggml's definitions (dequantize_row_q2_K / q3_K /
/// iq4_xs and the AVX2 ggml_vec_dot_*_q8_K): crafted super-blocks with edge scales, dequantized bit for bit, and dot
/// products in llama.cpp's float order bit for bit on every kernel path.
/// </summary>
public unsafe class LowBitQuantTests
{
    private static readonly sbyte[] Levels = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    /// <summary>One super-block as ggml reads it: value e = (d x Scale[e]) x Quant[e] - dmin x Min[e].</summary>
    private sealed record Decoded(float D, float Dmin, int[] Scale, int[] Quant, int[] Min, bool HasMins);

    private static float Half(byte[] b, int offset) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(offset)));

    /// <summary>ggml's Q2_K: for each half of 128, shifts 0, 2, 4, 6 over bytes q[0..15] then q[16..31], one scale byte each.</summary>
    private static Decoded DecodeQ2K(byte[] b)
    {
        int[] scale = new int[256], quant = new int[256], min = new int[256];
        int e = 0, scaleIndex = 0;
        for (var half = 0; half < 2; half++)
            for (var shift = 0; shift < 8; shift += 2)
                for (var part = 0; part < 2; part++)
                {
                    int sc = b[scaleIndex++];
                    for (var l = 0; l < 16; l++, e++)
                    {
                        scale[e] = sc & 0xF;
                        min[e] = sc >> 4;
                        quant[e] = (b[16 + 32 * half + 16 * part + l] >> shift) & 3;
                    }
                }
        return new(Half(b, 80), Half(b, 82), scale, quant, min, true);
    }

    /// <summary>ggml's Q3_K: scales through its 32-bit masks, high bit m moving one bit per 32 weights over hmask[0..31].</summary>
    private static Decoded DecodeQ3K(byte[] b)
    {
        const uint kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
        var aux = new uint[4];
        for (var i = 0; i < 3; i++)
            aux[i] = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(96 + 4 * i));
        var tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        var scales = new sbyte[16];
        for (var i = 0; i < 16; i++)
            scales[i] = (sbyte)(aux[i / 4] >> (8 * (i % 4)));
        int[] scale = new int[256], quant = new int[256];
        int e = 0, scaleIndex = 0, m = 1;
        for (var half = 0; half < 2; half++)
        {
            for (var shift = 0; shift < 8; shift += 2, m <<= 1)
                for (var part = 0; part < 2; part++)
                {
                    var sc = scales[scaleIndex++] - 32;
                    for (var l = 0; l < 16; l++, e++)
                    {
                        scale[e] = sc;
                        quant[e] = ((b[32 + 32 * half + 16 * part + l] >> shift) & 3) - ((b[16 * part + l] & m) != 0 ? 0 : 4);
                    }
                }
        }
        return new(Half(b, 108), 0, scale, quant, new int[256], false);
    }

    /// <summary>ggml's IQ4_XS: ls = (nibble ib % 2 of scales_l[ib / 2]) | (bits 2ib of scales_h) << 4, less 32.</summary>
    private static Decoded DecodeIQ4XS(byte[] b)
    {
        int[] scale = new int[256], quant = new int[256];
        var scalesH = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(2));
        for (var ib = 0; ib < 8; ib++)
        {
            var ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
            for (var j = 0; j < 16; j++)
            {
                scale[32 * ib + j] = scale[32 * ib + j + 16] = ls - 32;
                quant[32 * ib + j] = Levels[b[8 + 16 * ib + j] & 0xf];
                quant[32 * ib + j + 16] = Levels[b[8 + 16 * ib + j] >> 4];
            }
        }
        return new(Half(b, 0), 0, scale, quant, new int[256], false);
    }

    private static Decoded Decode(GgmlType type, byte[] block) => type switch
    {
        GgmlType.Q2_K => DecodeQ2K(block),
        GgmlType.Q3_K => DecodeQ3K(block),
        _ => DecodeIQ4XS(block),
    };

    private static (int D, int Dmin) HalfOffsets(GgmlType type) => type switch
    {
        GgmlType.Q2_K => (80, 82),
        GgmlType.Q3_K => (108, -1),
        _ => (0, -1),
    };

    /// <summary>Random bytes (every bit pattern is a valid block) with the given f16 scales written in.</summary>
    private static byte[] Block(GgmlType type, Random rng, float d, float dmin)
    {
        var block = new byte[GgmlTypeInfo.TypeSize(type)];
        rng.NextBytes(block);
        var (od, om) = HalfOffsets(type);
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(od), BitConverter.HalfToUInt16Bits((Half)d));
        if (om >= 0)
            BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(om), BitConverter.HalfToUInt16Bits((Half)dmin));
        return block;
    }

    public static TheoryData<GgmlType, float, float> EdgeScales()
    {
        var data = new TheoryData<GgmlType, float, float>();
        foreach (var type in new[] { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.IQ4_XS })
        {
            data.Add(type, 0.0625f, 0.03125f);
            data.Add(type, 0f, 0.5f); // a zero scale
            data.Add(type, -1.5f, -0.25f); // negative scales
            data.Add(type, 65504f, 65504f); // the largest f16
            data.Add(type, 5.9604645e-8f, 5.9604645e-8f); // the smallest subnormal f16
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EdgeScales))]
    public void Dequantize_IsGgmlsReference_BitForBit(GgmlType type, float d, float dmin)
    {
        var rng = new Random(17);
        for (var trial = 0; trial < 8; trial++)
        {
            var block = Block(type, rng, d, dmin);
            if (trial == 0)
                Extremes(type, block, high: true);
            if (trial == 1)
                Extremes(type, block, high: false);
            var y = new float[256];

            ReferenceQuant.Dequantize(type, block, y);

            var r = Decode(type, block);
            for (var e = 0; e < 256; e++)
            {
                var dl = r.D * r.Scale[e];
                var expected = r.HasMins ? dl * r.Quant[e] - r.Dmin * r.Min[e] : dl * r.Quant[e];
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[e]),
                    $"{type} trial {trial} weight {e}: {y[e]} vs ggml's {expected}");
            }
        }
    }

    /// <summary>Every scale and quant field at its largest (or smallest) value: 4-bit scales and mins of 15, 6-bit scales of 63 (31 after the offset), high bits all set.</summary>
    private static void Extremes(GgmlType type, byte[] block, bool high)
    {
        var fill = high ? (byte)0xFF : (byte)0x00;
        switch (type)
        {
            case GgmlType.Q2_K:
                block.AsSpan(0, 80).Fill(fill);
                break;
            case GgmlType.Q3_K:
                block.AsSpan(0, 108).Fill(fill);
                break;
            default:
                block.AsSpan(2, 134).Fill(fill);
                break;
        }
    }

    [Fact]
    public void Q3KScales_DecodeEachSixBitFieldFromItsNibbleAndItsPairOfHighBits()
    {
        // Scale j stored as 6-bit value v_j = (7 j + 5) % 64: its low nibble in byte j % 8 (the high nibble from j = 8 on),
        // its high 2 bits at bits 2 (j / 4) of byte 8 + j % 4.
        var block = new byte[110];
        for (var j = 0; j < 16; j++)
        {
            var v = (7 * j + 5) % 64;
            block[96 + j % 8] |= (byte)((v & 0xF) << (j < 8 ? 0 : 4));
            block[96 + 8 + j % 4] |= (byte)((v >> 4) << (2 * (j / 4)));
        }
        var r = DecodeQ3K(block);
        for (var j = 0; j < 16; j++)
        {
            Assert.Equal((7 * j + 5) % 64 - 32, r.Scale[16 * j]);
            Assert.Equal((7 * j + 5) % 64 - 32, ReferenceQuant.ScaleQ3K(j, block.AsSpan(96, 12)));
        }
    }

    [Fact]
    public void IQ4XSScales_TakeTheirHighBitsFromScalesH()
    {
        var block = new byte[136];
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(2), 0b11_10_01_00_11_10_01_00);
        block[4] = 0x0F; // block 0 low nibble 15, block 1 low nibble 0
        block[5] = 0xF0;
        block[6] = 0x5A;
        block[7] = 0x00;
        int[] expected = [15 - 32, (1 << 4) - 32, (2 << 4) - 32, (15 | (3 << 4)) - 32, 10 - 32, (5 | (1 << 4)) - 32, (2 << 4) - 32, (3 << 4) - 32];
        for (var ib = 0; ib < 8; ib++)
        {
            Assert.Equal(expected[ib], DecodeIQ4XS(block).Scale[32 * ib]);
            Assert.Equal(expected[ib], ReferenceQuant.ScaleIQ4XS(ib, block));
        }
    }

    /// <summary>
    /// llama.cpp's AVX2 product: per super-block, lane k = the exact sum over the eight 32-weight groups of scale x
    /// (quants 4k..4k+3 times activations); Q2_K first adds its mins' lanes (min x bsum of sub-blocks 2k and 2k+1) by
    /// fused multiply-add with -d_x x dmin, then every type adds its lanes with d_x x d; hsum_float_8 at the end.
    /// </summary>
    private static float LlamaCppDot(GgmlType type, byte[] row, int cols, sbyte[] xq, float[] xd, short[] bsums)
    {
        var acc = new float[8];
        var bytes = GgmlTypeInfo.TypeSize(type);
        for (var sb = 0; sb < cols / 256; sb++)
        {
            var r = Decode(type, row[(sb * bytes)..((sb + 1) * bytes)]);
            if (r.HasMins)
            {
                for (var k = 0; k < 8; k++)
                {
                    var minLane = r.Min[32 * k] * bsums[16 * sb + 2 * k] + r.Min[32 * k + 16] * bsums[16 * sb + 2 * k + 1];
                    acc[k] = MathF.FusedMultiplyAdd(-xd[sb] * r.Dmin, minLane, acc[k]);
                }
            }
            for (var k = 0; k < 8; k++)
            {
                var lane = 0;
                for (var g = 0; g < 8; g++)
                    for (var i = 0; i < 4; i++)
                    {
                        var e = 32 * g + 4 * k + i;
                        lane += r.Scale[e] * r.Quant[e] * xq[256 * sb + e];
                    }
                acc[k] = MathF.FusedMultiplyAdd(xd[sb] * r.D, lane, acc[k]);
            }
        }
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }

    [Theory]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.IQ4_XS)]
    public void DotProducts_AreLlamaCppsAvx2Order_BitForBit_OnEveryPathAndInTheFourTokenTile(GgmlType type)
    {
        const int cols = 1024, rows = 5;
        var rng = new Random(29);
        var bytes = GgmlTypeInfo.TypeSize(type);
        var weights = new byte[rows * cols / 256 * bytes];
        for (var b = 0; b < weights.Length / bytes; b++)
        {
            var d = (float)(rng.NextDouble() - 0.5) * 0.01f;
            Block(type, rng, d, (float)rng.NextDouble() * 0.01f).CopyTo(weights, b * bytes);
        }
        const int tokens = 4;
        using var tokenData = new KernelTestData.Q8KTokens(tokens, cols, seed: 31);
        var act = tokenData.Data;
        var stride = tokenData.Stride;
        fixed (byte* wp = weights)
        {
            foreach (var path in new[] { KernelPath.Scalar, KernelPath.Avx2, KernelPath.Avx512 })
            {
                if (!KernelPaths.IsSupported(path))
                    continue;
                var kernel = MatMulKernel.For(type, path);
                Assert.Equal(ActivationFormat.Q8_K, kernel.Format);
                for (var r = 0; r < rows; r++)
                {
                    var row = weights[(r * cols / 256 * bytes)..((r + 1) * cols / 256 * bytes)];
                    var four = new float[tokens];
                    fixed (float* fp = four)
                        kernel.Dot4(wp + r * cols / 256 * bytes, act, stride, cols, fp, 1);
                    for (var t = 0; t < tokens; t++)
                    {
                        var token = act + t * stride;
                        var expected = LlamaCppDot(type, row,
                            cols,
                            new ReadOnlySpan<sbyte>(ActivationQuant.Q8_KQs(token), cols).ToArray(),
                            new ReadOnlySpan<float>(ActivationQuant.Q8_KD(token, cols), cols / 256).ToArray(),
                            new ReadOnlySpan<short>(ActivationQuant.Q8_KBsums(token, cols), cols / 16).ToArray());
                        var one = kernel.Dot(wp + r * cols / 256 * bytes, token, cols);
                        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(one));
                        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(four[t]));
                    }
                }
            }
        }
    }
}
