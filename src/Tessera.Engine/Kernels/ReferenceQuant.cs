using System.Buffers.Binary;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Scalar, obviously-correct quantizers and dequantizers for the block formats the engine computes with, bit layouts
/// as in ggml (GGUF files). The quantizers are simple max-abs quantizers: they write valid blocks (used to make
/// synthetic models and test data), not llama.cpp's error-minimising choice of scales.
/// </summary>
/// <remarks>
/// <see cref="GgmlType.Q8_K"/> is the activation format of the K-quant dot products: f32 d, 256 x i8, 16 x i16 sums
/// of each 16 quants.
/// </remarks>
public static class ReferenceQuant
{
    /// <summary>Types <see cref="Quantize"/> and <see cref="Dequantize"/> accept.</summary>
    public static bool IsSupported(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.IQ4_NL or GgmlType.Q2_K
        or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ4_XS or GgmlType.Q8_K;

    /// <summary>Quantizes <paramref name="source"/> (a whole number of blocks) into <paramref name="destination"/>.</summary>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        var blocks = CheckSizes(type, source.Length, destination.Length);
        var bs = GgmlTypeInfo.BlockSize(type);
        var ts = GgmlTypeInfo.TypeSize(type);
        for (var b = 0; b < blocks; b++)
        {
            var x = source.Slice(b * bs, bs);
            var y = destination.Slice(b * ts, ts);
            switch (type)
            {
                case GgmlType.F32: BinaryPrimitives.WriteSingleLittleEndian(y, x[0]); break;
                case GgmlType.F16: BinaryPrimitives.WriteUInt16LittleEndian(y, Fp16.FromSingle(x[0])); break;
                case GgmlType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(y, Fp16.SingleToBF16(x[0])); break;
                case GgmlType.Q8_0: QuantizeQ8_0(x, y); break;
                case GgmlType.Q4_0: QuantizeQ4_0(x, y); break;
                case GgmlType.Q5_0: QuantizeQ5_0(x, y); break;
                case GgmlType.Q4_1: QuantizeWithMin(x, y, bits: 4); break;
                case GgmlType.Q5_1: QuantizeWithMin(x, y, bits: 5); break;
                case GgmlType.IQ4_NL: QuantizeIQ4NL(x, y); break;
                case GgmlType.Q2_K: QuantizeQ2K(x, y); break;
                case GgmlType.Q3_K: QuantizeQ3K(x, y); break;
                case GgmlType.IQ4_XS: QuantizeIQ4XS(x, y); break;
                case GgmlType.Q4_K: QuantizeQ4K(x, y, 15); break;
                case GgmlType.Q5_K: QuantizeQ5K(x, y); break;
                case GgmlType.Q6_K: QuantizeQ6K(x, y); break;
                case GgmlType.Q8_K: QuantizeQ8K(x, y); break;
                default: throw Unsupported(type);
            }
        }
    }

    /// <summary>Dequantizes <paramref name="source"/> (whole blocks) into <paramref name="destination"/>.</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        var blocks = CheckSizes(type, destination.Length, source.Length);
        var bs = GgmlTypeInfo.BlockSize(type);
        var ts = GgmlTypeInfo.TypeSize(type);
        for (var b = 0; b < blocks; b++)
        {
            var x = source.Slice(b * ts, ts);
            var y = destination.Slice(b * bs, bs);
            switch (type)
            {
                case GgmlType.F32: y[0] = BinaryPrimitives.ReadSingleLittleEndian(x); break;
                case GgmlType.F16: y[0] = Fp16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(x)); break;
                case GgmlType.BF16: y[0] = Fp16.BF16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(x)); break;
                case GgmlType.Q8_0: DequantizeQ8_0(x, y); break;
                case GgmlType.Q4_0: DequantizeQ4_0(x, y); break;
                case GgmlType.Q5_0: DequantizeQ5_0(x, y); break;
                case GgmlType.Q4_1: DequantizeWithMin(x, y, bits: 4); break;
                case GgmlType.Q5_1: DequantizeWithMin(x, y, bits: 5); break;
                case GgmlType.IQ4_NL: DequantizeIQ4NL(x, y); break;
                case GgmlType.Q2_K: DequantizeQ2K(x, y); break;
                case GgmlType.Q3_K: DequantizeQ3K(x, y); break;
                case GgmlType.IQ4_XS: DequantizeIQ4XS(x, y); break;
                case GgmlType.Q4_K: DequantizeQ4K(x, y); break;
                case GgmlType.Q5_K: DequantizeQ5K(x, y); break;
                case GgmlType.Q6_K: DequantizeQ6K(x, y); break;
                case GgmlType.Q8_K: DequantizeQ8K(x, y); break;
                default: throw Unsupported(type);
            }
        }
    }

    // ---- Q8_0: f16 d; 32 x i8. value = q * d ----
    private static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        var amax = MaxAbs(x);
        var d = amax / 127f;
        var id = d != 0 ? 1f / d : 0f;
        WriteHalf(y, 0, d);
        for (var j = 0; j < 32; j++)
            y[2 + j] = (byte)(sbyte)Math.Clamp((int)MathF.Round(x[j] * id), -127, 127);
    }

    private static void DequantizeQ8_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 0);
        for (var j = 0; j < 32; j++)
            y[j] = (sbyte)x[2 + j] * d;
    }

    // ---- Q4_0: f16 d; 16 bytes, low nibble = element j, high nibble = element j + 16. value = (q - 8) * d ----
    private static void QuantizeQ4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        var max = SignedMaxAbs(x);
        var d = max / -8f;
        var id = d != 0 ? 1f / d : 0f;
        WriteHalf(y, 0, d);
        for (var j = 0; j < 16; j++)
        {
            var q0 = Math.Clamp((int)MathF.Round(x[j] * id) + 8, 0, 15);
            var q1 = Math.Clamp((int)MathF.Round(x[j + 16] * id) + 8, 0, 15);
            y[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    private static void DequantizeQ4_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 0);
        for (var j = 0; j < 16; j++)
        {
            y[j] = ((x[2 + j] & 0xF) - 8) * d;
            y[j + 16] = ((x[2 + j] >> 4) - 8) * d;
        }
    }

    // ---- Q5_0: f16 d; u32 qh (bit j = fifth bit of element j); 16 bytes nibbles as Q4_0. value = (q - 16) * d ----
    private static void QuantizeQ5_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        var max = SignedMaxAbs(x);
        var d = max / -16f;
        var id = d != 0 ? 1f / d : 0f;
        WriteHalf(y, 0, d);
        uint qh = 0;
        for (var j = 0; j < 16; j++)
        {
            var q0 = Math.Clamp((int)MathF.Round(x[j] * id) + 16, 0, 31);
            var q1 = Math.Clamp((int)MathF.Round(x[j + 16] * id) + 16, 0, 31);
            y[6 + j] = (byte)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint)(q0 >> 4) << j;
            qh |= (uint)(q1 >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[2..], qh);
    }

    private static void DequantizeQ5_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 0);
        var qh = BinaryPrimitives.ReadUInt32LittleEndian(x[2..]);
        for (var j = 0; j < 16; j++)
        {
            var h0 = (int)((qh >> j) & 1) << 4;
            var h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (((x[6 + j] & 0xF) | h0) - 16) * d;
            y[j + 16] = (((x[6 + j] >> 4) | h1) - 16) * d;
        }
    }

    // ---- Q4_1: f16 d, f16 m; 16 bytes nibbles as Q4_0. Q5_1: f16 d, f16 m, u32 qh, 16 bytes nibbles as Q5_0.
    //      value = q * d + m (q unsigned: 0..15, 0..31) ----
    private static void QuantizeWithMin(ReadOnlySpan<float> x, Span<byte> y, int bits)
    {
        float min = float.MaxValue, max = float.MinValue;
        foreach (var v in x)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        var top = (1 << bits) - 1;
        var d = (max - min) / top;
        var id = d != 0 ? 1f / d : 0f;
        WriteHalf(y, 0, d);
        WriteHalf(y, 2, min);
        var qs = bits == 4 ? 4 : 8;
        uint qh = 0;
        for (var j = 0; j < 16; j++)
        {
            var q0 = Math.Clamp((int)MathF.Round((x[j] - min) * id), 0, top);
            var q1 = Math.Clamp((int)MathF.Round((x[j + 16] - min) * id), 0, top);
            y[qs + j] = (byte)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint)(q0 >> 4) << j;
            qh |= (uint)(q1 >> 4) << (j + 16);
        }
        if (bits == 5)
            BinaryPrimitives.WriteUInt32LittleEndian(y[4..], qh);
    }

    private static void DequantizeWithMin(ReadOnlySpan<byte> x, Span<float> y, int bits)
    {
        var d = ReadHalf(x, 0);
        var m = ReadHalf(x, 2);
        var qh = bits == 5 ? BinaryPrimitives.ReadUInt32LittleEndian(x[4..]) : 0;
        var qs = bits == 4 ? 4 : 8;
        for (var j = 0; j < 16; j++)
        {
            var h0 = (int)((qh >> j) & 1) << 4;
            var h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = ((x[qs + j] & 0xF) | h0) * d + m;
            y[j + 16] = ((x[qs + j] >> 4) | h1) * d + m;
        }
    }

    /// <summary>ggml's <c>kvalues_iq4nl</c>: the 16 non-uniform levels a 4-bit IQ4_NL (and IQ4_XS) quant selects.</summary>
    internal static ReadOnlySpan<sbyte> IQ4NLValues => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    // ---- IQ4_NL: f16 d; 16 bytes, low nibble = element j, high nibble = element j + 16. value = d x level[q] ----
    private static void QuantizeIQ4NL(ReadOnlySpan<float> x, Span<byte> y)
    {
        var max = SignedMaxAbs(x);
        var d = max / -127f;
        WriteHalf(y, 0, d);
        var dd = ReadHalf(y, 0);
        for (var j = 0; j < 16; j++)
            y[2 + j] = (byte)(NearestLevel(x[j], dd) | (NearestLevel(x[j + 16], dd) << 4));
    }

    private static void DequantizeIQ4NL(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 0);
        for (var j = 0; j < 16; j++)
        {
            y[j] = d * IQ4NLValues[x[2 + j] & 0xF];
            y[j + 16] = d * IQ4NLValues[x[2 + j] >> 4];
        }
    }

    // ---- Q2_K: 16 bytes scales (low nibble: the 4-bit scale of 16 weights, high nibble: their 4-bit min); 64 bytes
    // qs; f16 d; f16 dmin. value = d*sc*q - dmin*m, q in 0..3. Weight 128h + 32s + b (h 0..1, s 0..3, b 0..31) is bits
    // 2s..2s+1 of qs[32h + b] and takes scale byte 8h + 2s + b/16 (the same element order as Q3_K) ----
    private static void QuantizeQ2K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<int> sc = stackalloc int[16];
        Span<int> mn = stackalloc int[16];
        Span<int> q = stackalloc int[256];
        var (d, dmin) = QuantizeWithSubMins(x, 3, 15, sc, mn, q);
        for (var j = 0; j < 16; j++)
            y[j] = (byte)(sc[j] | (mn[j] << 4));
        PackTwoBits(q, y.Slice(16, 64));
        WriteHalf(y, 80, d);
        WriteHalf(y, 82, dmin);
    }

    private static void DequantizeQ2K(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 80);
        var dmin = ReadHalf(x, 82);
        var qs = x.Slice(16, 64);
        for (var e = 0; e < 256; e += 16)
        {
            int sc = x[e / 16];
            float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            for (var l = 0; l < 16; l++)
                y[e + l] = dl * TwoBits(qs, e + l) - ml;
        }
    }

    // ---- Q3_K: 32 bytes hmask; 64 bytes qs (low 2 bits, as Q2_K's); 12 bytes of sixteen 6-bit scales; f16 d.
    // value = d*(sc - 32)*(q - 4), q = low 2 bits + 4 x (bit e/32 of hmask[e % 32]) for weight e ----
    private static void QuantizeQ3K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<int> subScales = stackalloc int[16];
        var d = SixBitSignedScales(x, 16, -4f, subScales);
        var scales = y.Slice(96, 12);
        scales.Clear();
        Span<int> q = stackalloc int[256];
        for (var j = 0; j < 16; j++)
        {
            var sc = subScales[j];
            var l = sc + 32;
            scales[j % 8] |= (byte)((l & 0xF) << (j < 8 ? 0 : 4));
            scales[8 + j % 4] |= (byte)((l >> 4) << (2 * (j / 4)));
            var step = d * sc;
            for (var i = 0; i < 16; i++)
                q[16 * j + i] = (step != 0 ? Math.Clamp((int)MathF.Round(x[16 * j + i] / step), -4, 3) : 0) + 4;
        }
        var hmask = y[..32];
        hmask.Clear();
        for (var e = 0; e < 256; e++)
        {
            hmask[e % 32] |= (byte)((q[e] >> 2) << (e / 32));
            q[e] &= 3;
        }
        PackTwoBits(q, y.Slice(32, 64));
        WriteHalf(y, 108, d);
    }

    private static void DequantizeQ3K(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 108);
        var qs = x.Slice(32, 64);
        var scales = x.Slice(96, 12);
        for (var e = 0; e < 256; e += 16)
        {
            var dl = d * ScaleQ3K(e / 16, scales);
            for (var l = 0; l < 16; l++)
            {
                var high = (x[(e + l) % 32] >> ((e + l) / 32)) & 1;
                y[e + l] = dl * (TwoBits(qs, e + l) - (high != 0 ? 0 : 4));
            }
        }
    }

    /// <summary>
    /// Q3_K's and IQ4_XS's scales: each of <paramref name="groups"/> equal groups gets the scale that takes its value of
    /// largest magnitude to <paramref name="levelOfMax"/>; the super-block's f16 d takes the largest of those to -32, and
    /// each group's scale becomes a signed 6-bit multiple of d (-32..31) in <paramref name="scales"/>. Returns d.
    /// </summary>
    private static float SixBitSignedScales(ReadOnlySpan<float> x, int groups, float levelOfMax, Span<int> scales)
    {
        var size = x.Length / groups;
        Span<float> exact = stackalloc float[groups];
        float max = 0;
        for (var j = 0; j < groups; j++)
        {
            exact[j] = SignedMaxAbs(x.Slice(size * j, size)) / levelOfMax;
            if (MathF.Abs(exact[j]) > MathF.Abs(max))
                max = exact[j];
        }
        var d = Fp16.ToSingle(Fp16.FromSingle(max / -32f));
        for (var j = 0; j < groups; j++)
            scales[j] = d != 0 ? Math.Clamp((int)MathF.Round(exact[j] / d), -32, 31) : 0;
        return d;
    }

    /// <summary>Q3_K's scale of weights 16j..16j+15, less its offset of 32: low 4 bits in byte j % 8 (high nibble from j = 8 on), high 2 bits in byte 8 + j % 4.</summary>
    internal static int ScaleQ3K(int j, ReadOnlySpan<byte> scales)
    {
        var low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
        var high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        return (low | (high << 4)) - 32;
    }

    /// <summary>Q2_K's and Q3_K's 2-bit quant of weight <paramref name="e"/>: bits 2s of byte 32h + b for e = 128h + 32s + b.</summary>
    private static int TwoBits(ReadOnlySpan<byte> qs, int e) => (qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;

    private static void PackTwoBits(ReadOnlySpan<int> q, Span<byte> qs)
    {
        for (var h = 0; h < 2; h++)
            for (var b = 0; b < 32; b++)
                qs[32 * h + b] = (byte)(q[128 * h + b] | (q[128 * h + 32 + b] << 2) | (q[128 * h + 64 + b] << 4) | (q[128 * h + 96 + b] << 6));
    }

    // ---- IQ4_XS: f16 d; u16 scales_h; 4 bytes scales_l; 128 bytes qs. Block ib of 32 weights has the 6-bit scale
    // (nibble ib % 2 of scales_l[ib / 2]) | (bits 2ib of scales_h) << 4, less 32, and IQ4_NL's nibbles at qs[16ib..].
    // value = d x (scale - 32) x level[q] ----
    private static void QuantizeIQ4XS(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<int> blockScales = stackalloc int[8];
        var d = SixBitSignedScales(x, 8, -127f, blockScales);
        WriteHalf(y, 0, d);
        var scalesH = 0;
        y.Slice(4, 4).Clear();
        for (var ib = 0; ib < 8; ib++)
        {
            var ls = blockScales[ib];
            var l = ls + 32;
            y[4 + ib / 2] |= (byte)((l & 0xF) << (4 * (ib % 2)));
            scalesH |= (l >> 4) << (2 * ib);
            var dl = d * ls;
            for (var j = 0; j < 16; j++)
                y[8 + 16 * ib + j] = (byte)(NearestLevel(x[32 * ib + j], dl) | (NearestLevel(x[32 * ib + j + 16], dl) << 4));
        }
        BinaryPrimitives.WriteUInt16LittleEndian(y[2..], (ushort)scalesH);
    }

    private static void DequantizeIQ4XS(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 0);
        for (var ib = 0; ib < 8; ib++)
        {
            var dl = d * ScaleIQ4XS(ib, x);
            for (var j = 0; j < 16; j++)
            {
                y[32 * ib + j] = dl * IQ4NLValues[x[8 + 16 * ib + j] & 0xF];
                y[32 * ib + j + 16] = dl * IQ4NLValues[x[8 + 16 * ib + j] >> 4];
            }
        }
    }

    /// <summary>IQ4_XS's scale of block <paramref name="ib"/> (0..7) of the super-block <paramref name="block"/>, less its offset of 32.</summary>
    internal static int ScaleIQ4XS(int ib, ReadOnlySpan<byte> block)
    {
        var low = (block[4 + ib / 2] >> (4 * (ib % 2))) & 0xF;
        var high = (BinaryPrimitives.ReadUInt16LittleEndian(block[2..]) >> (2 * ib)) & 3;
        return (low | (high << 4)) - 32;
    }

    /// <summary>The IQ4_NL level index whose value times <paramref name="d"/> is nearest to <paramref name="v"/>.</summary>
    private static int NearestLevel(float v, float d)
    {
        var best = 0;
        for (var q = 1; q < 16; q++)
        {
            if (MathF.Abs(IQ4NLValues[q] * d - v) < MathF.Abs(IQ4NLValues[best] * d - v))
                best = q;
        }
        return best;
    }

    // ---- K-quant 6-bit scales and mins (Q4_K, Q5_K): 12 bytes for 8 (scale, min) pairs ----

    /// <summary>Scale and min of sub-block <paramref name="j"/> (0..7) from the 12 packed bytes.</summary>
    internal static void ScaleMinK4(int j, ReadOnlySpan<byte> q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    private static void PackScaleMinK4(ReadOnlySpan<int> scales, ReadOnlySpan<int> mins, Span<byte> q)
    {
        for (var j = 0; j < 4; j++)
        {
            q[j] = (byte)(scales[j] | ((scales[j + 4] >> 4) << 6));
            q[j + 4] = (byte)(mins[j] | ((mins[j + 4] >> 4) << 6));
            q[j + 8] = (byte)((scales[j + 4] & 0xF) | ((mins[j + 4] & 0xF) << 4));
        }
    }

    // Shared by Q4_K (levels 15) and Q5_K (levels 31): 8 sub-blocks of 32, value = d*sc*q - dmin*m, q in [0, levels].
    private static void QuantizeKWithMins(ReadOnlySpan<float> x, int levels, Span<byte> header, Span<int> q)
    {
        Span<int> sc = stackalloc int[8];
        Span<int> mn = stackalloc int[8];
        var (d, dmin) = QuantizeWithSubMins(x, levels, 63, sc, mn, q);
        WriteHalf(header, 0, d);
        WriteHalf(header, 2, dmin);
        PackScaleMinK4(sc, mn, header.Slice(4, 12));
    }

    /// <summary>
    /// The K-quants with minimums (Q2_K, Q4_K, Q5_K): <paramref name="sc"/>.Length equal sub-blocks, each with a scale and
    /// a minimum that are multiples (0..<paramref name="scaleMax"/>) of the super-block's f16 d and dmin, and quants
    /// 0..<paramref name="levels"/>: value = d*sc*q - dmin*m.
    /// </summary>
    private static (float D, float Dmin) QuantizeWithSubMins(ReadOnlySpan<float> x, int levels, int scaleMax, Span<int> sc, Span<int> mn, Span<int> q)
    {
        var groups = sc.Length;
        var size = x.Length / groups;
        Span<float> subScale = stackalloc float[groups];
        Span<float> subMin = stackalloc float[groups];
        float maxScale = 0, maxMin = 0;
        for (var j = 0; j < groups; j++)
        {
            float lo = 0, hi = 0;
            for (var l = 0; l < size; l++)
            {
                lo = MathF.Min(lo, x[size * j + l]);
                hi = MathF.Max(hi, x[size * j + l]);
            }
            subScale[j] = (hi - lo) / levels;
            subMin[j] = -lo;
            maxScale = MathF.Max(maxScale, subScale[j]);
            maxMin = MathF.Max(maxMin, subMin[j]);
        }

        var d = Fp16.ToSingle(Fp16.FromSingle(maxScale / scaleMax));
        var dmin = Fp16.ToSingle(Fp16.FromSingle(maxMin / scaleMax));
        for (var j = 0; j < groups; j++)
        {
            sc[j] = d != 0 ? Math.Clamp((int)MathF.Round(subScale[j] / d), 0, scaleMax) : 0;
            mn[j] = dmin != 0 ? Math.Clamp((int)MathF.Round(subMin[j] / dmin), 0, scaleMax) : 0;
            var step = d * sc[j];
            var offset = dmin * mn[j];
            for (var l = 0; l < size; l++)
            {
                var v = step != 0 ? (int)MathF.Round((x[size * j + l] + offset) / step) : 0;
                q[size * j + l] = Math.Clamp(v, 0, levels);
            }
        }
        return (d, dmin);
    }

    // ---- Q4_K: f16 d; f16 dmin; 12 bytes scales; 128 bytes: chunk c (64 weights) = 32 bytes, low nibbles the
    // first 32 weights (sub-block 2c), high nibbles the next 32 (sub-block 2c+1) ----
    private static void QuantizeQ4K(ReadOnlySpan<float> x, Span<byte> y, int levels)
    {
        Span<int> q = stackalloc int[256];
        QuantizeKWithMins(x, levels, y, q);
        var qs = y.Slice(16, 128);
        for (var c = 0; c < 4; c++)
            for (var l = 0; l < 32; l++)
                qs[32 * c + l] = (byte)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }

    private static void DequantizeQ4K(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 0);
        var dmin = ReadHalf(x, 2);
        var scales = x.Slice(4, 12);
        var qs = x.Slice(16, 128);
        for (var c = 0; c < 4; c++)
        {
            ScaleMinK4(2 * c, scales, out var sc0, out var m0);
            ScaleMinK4(2 * c + 1, scales, out var sc1, out var m1);
            float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
            for (var l = 0; l < 32; l++)
            {
                y[64 * c + l] = d0 * (qs[32 * c + l] & 0xF) - min0;
                y[64 * c + 32 + l] = d1 * (qs[32 * c + l] >> 4) - min1;
            }
        }
    }

    // ---- Q5_K: f16 d; f16 dmin; 12 bytes scales; 32 bytes qh; 128 bytes qs. Fifth bit of weight 64c + l is bit 2c
    // of qh[l], of weight 64c + 32 + l bit 2c + 1 ----
    private static void QuantizeQ5K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<int> q = stackalloc int[256];
        QuantizeKWithMins(x, 31, y, q);
        var qh = y.Slice(16, 32);
        var qs = y.Slice(48, 128);
        qh.Clear();
        for (var c = 0; c < 4; c++)
            for (var l = 0; l < 32; l++)
            {
                int a = q[64 * c + l], b = q[64 * c + 32 + l];
                qs[32 * c + l] = (byte)((a & 0xF) | ((b & 0xF) << 4));
                qh[l] |= (byte)(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
            }
    }

    private static void DequantizeQ5K(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 0);
        var dmin = ReadHalf(x, 2);
        var scales = x.Slice(4, 12);
        var qh = x.Slice(16, 32);
        var qs = x.Slice(48, 128);
        for (var c = 0; c < 4; c++)
        {
            ScaleMinK4(2 * c, scales, out var sc0, out var m0);
            ScaleMinK4(2 * c + 1, scales, out var sc1, out var m1);
            float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
            for (var l = 0; l < 32; l++)
            {
                var a = (qs[32 * c + l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4);
                var b = (qs[32 * c + l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                y[64 * c + l] = d0 * a - min0;
                y[64 * c + 32 + l] = d1 * b - min1;
            }
        }
    }

    // ---- Q6_K: 128 bytes ql; 64 bytes qh; 16 x i8 scales (one per 16 weights); f16 d. value = d*sc*(q - 32).
    // Half h (128 weights) at ql[64h..], qh[32h..]: weight 128h + 32k + l (k 0..3, l 0..31) has low 4 bits in
    // ql[64h + l + 32*(k&1)] (nibble k>>1) and high 2 bits at bit 2k of qh[32h + l] ----
    private static void QuantizeQ6K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<float> subScale = stackalloc float[16];
        float maxAbs = 0;
        for (var j = 0; j < 16; j++)
        {
            subScale[j] = SignedMaxAbs(x.Slice(16 * j, 16)) / -32f;
            maxAbs = MathF.Max(maxAbs, MathF.Abs(subScale[j]));
        }
        var d = Fp16.ToSingle(Fp16.FromSingle(maxAbs / 127f));
        Span<int> q = stackalloc int[256];
        for (var j = 0; j < 16; j++)
        {
            var sc = d != 0 ? Math.Clamp((int)MathF.Round(subScale[j] / d), -127, 127) : 0;
            y[192 + j] = (byte)(sbyte)sc;
            var step = d * sc;
            for (var l = 0; l < 16; l++)
            {
                var v = step != 0 ? (int)MathF.Round(x[16 * j + l] / step) : 0;
                q[16 * j + l] = Math.Clamp(v, -32, 31) + 32;
            }
        }
        WriteHalf(y, 208, d);
        var ql = y[..128];
        var qh = y.Slice(128, 64);
        for (var h = 0; h < 2; h++)
            for (var l = 0; l < 32; l++)
            {
                int q1 = q[128 * h + l], q2 = q[128 * h + 32 + l], q3 = q[128 * h + 64 + l], q4 = q[128 * h + 96 + l];
                ql[64 * h + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[64 * h + 32 + l] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[32 * h + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
    }

    private static void DequantizeQ6K(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = ReadHalf(x, 208);
        var ql = x[..128];
        var qh = x.Slice(128, 64);
        for (var h = 0; h < 2; h++)
            for (var l = 0; l < 32; l++)
            {
                int a = ql[64 * h + l], b = ql[64 * h + 32 + l], hb = qh[32 * h + l];
                var q1 = ((a & 0xF) | ((hb & 3) << 4)) - 32;
                var q2 = ((b & 0xF) | (((hb >> 2) & 3) << 4)) - 32;
                var q3 = ((a >> 4) | (((hb >> 4) & 3) << 4)) - 32;
                var q4 = ((b >> 4) | (((hb >> 6) & 3) << 4)) - 32;
                var e = 128 * h + l;
                y[e] = d * (sbyte)x[192 + e / 16] * q1;
                y[e + 32] = d * (sbyte)x[192 + (e + 32) / 16] * q2;
                y[e + 64] = d * (sbyte)x[192 + (e + 64) / 16] * q3;
                y[e + 96] = d * (sbyte)x[192 + (e + 96) / 16] * q4;
            }
    }

    // ---- Q8_K (activations): f32 d; 256 x i8; 16 x i16 sums of each 16 quants. value = q * d ----
    private static void QuantizeQ8K(ReadOnlySpan<float> x, Span<byte> y)
    {
        var amax = MaxAbs(x);
        var d = amax / 127f;
        var id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteSingleLittleEndian(y, d);
        for (var j = 0; j < 16; j++)
        {
            var sum = 0;
            for (var l = 0; l < 16; l++)
            {
                var v = Math.Clamp((int)MathF.Round(x[16 * j + l] * id), -127, 127);
                y[4 + 16 * j + l] = (byte)(sbyte)v;
                sum += v;
            }
            BinaryPrimitives.WriteInt16LittleEndian(y[(260 + 2 * j)..], (short)sum);
        }
    }

    private static void DequantizeQ8K(ReadOnlySpan<byte> x, Span<float> y)
    {
        var d = BinaryPrimitives.ReadSingleLittleEndian(x);
        for (var j = 0; j < 256; j++)
            y[j] = (sbyte)x[4 + j] * d;
    }

    // ---- helpers ----
    private static float ReadHalf(ReadOnlySpan<byte> x, int offset) =>
        Fp16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(x[offset..]));

    private static void WriteHalf(Span<byte> y, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(y[offset..], Fp16.FromSingle(value));

    private static float MaxAbs(ReadOnlySpan<float> x)
    {
        float amax = 0;
        foreach (var v in x)
            amax = MathF.Max(amax, MathF.Abs(v));
        return amax;
    }

    /// <summary>The element of largest magnitude, with its sign.</summary>
    private static float SignedMaxAbs(ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0;
        foreach (var v in x)
        {
            if (MathF.Abs(v) > amax)
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        return max;
    }

    private static int CheckSizes(GgmlType type, int elements, int bytes)
    {
        if (!IsSupported(type))
            throw Unsupported(type);
        var bs = GgmlTypeInfo.BlockSize(type);
        if (elements % bs != 0)
            throw new ArgumentException($"{elements} values are not a whole number of {type} blocks of {bs}.");
        var blocks = elements / bs;
        if ((long)blocks * GgmlTypeInfo.TypeSize(type) != bytes)
            throw new ArgumentException($"{blocks} {type} blocks take {(long)blocks * GgmlTypeInfo.TypeSize(type)} bytes, not {bytes}.");
        return blocks;
    }

    private static NotSupportedException Unsupported(GgmlType type) =>
        new($"Reference quantization does not support {type}.");
}
