using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

public class ReferenceQuantTests
{
    [Theory]
    [InlineData(GgmlType.F16, 0.001)]
    [InlineData(GgmlType.BF16, 0.006)]
    [InlineData(GgmlType.Q8_0, 0.01)]
    [InlineData(GgmlType.Q8_K, 0.025)]
    [InlineData(GgmlType.Q6_K, 0.04)]
    [InlineData(GgmlType.Q5_0, 0.08)]
    [InlineData(GgmlType.Q5_1, 0.06)]
    [InlineData(GgmlType.Q4_1, 0.12)]
    [InlineData(GgmlType.IQ4_NL, 0.12)]
    [InlineData(GgmlType.Q5_K, 0.06)]
    [InlineData(GgmlType.Q4_0, 0.16)]
    [InlineData(GgmlType.Q4_K, 0.12)]
    [InlineData(GgmlType.IQ4_XS, 0.12)]
    [InlineData(GgmlType.Q3_K, 0.3)]
    [InlineData(GgmlType.Q2_K, 0.45)]
    public void QuantizeThenDequantize_StaysWithinTheFormatsError(GgmlType type, double maxRelativeRms)
    {
        var x = KernelTestData.Random(256 * 16, seed: 1);
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        var y = new float[x.Length];

        ReferenceQuant.Quantize(type, x, bytes);
        ReferenceQuant.Dequantize(type, bytes, y);

        double err = 0, norm = 0;
        for (var i = 0; i < x.Length; i++)
        {
            err += (x[i] - y[i]) * (double)(x[i] - y[i]);
            norm += x[i] * (double)x[i];
        }
        var relative = Math.Sqrt(err / norm);
        Assert.True(relative < maxRelativeRms, $"{type}: relative RMS error {relative:G4} >= {maxRelativeRms}");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.IQ4_XS)]
    public void QuantizeZeros_GivesZeros(GgmlType type)
    {
        var x = new float[256];
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        var y = new float[x.Length];
        y.AsSpan().Fill(1f);

        ReferenceQuant.Quantize(type, x, bytes);
        ReferenceQuant.Dequantize(type, bytes, y);

        Assert.All(y, v => Assert.Equal(0f, v));
    }

    /// <summary>
    /// Crafted Q4_1 and Q5_1 blocks, dequantized as ggml's reference does (value = q x d + m): the nibble and fifth-bit
    /// layout, a negative minimum, the largest and smallest f16 scales, and a zero scale.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_1, 0.5f, -3f)]
    [InlineData(GgmlType.Q5_1, 0.25f, 1.5f)]
    [InlineData(GgmlType.Q4_1, 65504f, -65504f)]
    [InlineData(GgmlType.Q5_1, 5.9604645e-8f, 0f)]
    [InlineData(GgmlType.Q5_1, 0f, 2f)]
    public void DequantizeWithMinimum_IsQTimesDPlusM_InGgmlsLayout(GgmlType type, float d, float m)
    {
        var five = type == GgmlType.Q5_1;
        var block = new byte[five ? 24 : 20];
        BitConverter.TryWriteBytes(block.AsSpan(0), BitConverter.HalfToUInt16Bits((Half)d));
        BitConverter.TryWriteBytes(block.AsSpan(2), BitConverter.HalfToUInt16Bits((Half)m));
        var qs = five ? 8 : 4;
        var expected = new int[32];
        uint qh = 0;
        for (var j = 0; j < 16; j++)
        {
            // element j in the low nibble of byte j, element j + 16 in its high nibble; Q5_1's fifth bits in qh
            int lo = (j * 7 + 3) % (five ? 32 : 16), hi = (j * 5 + 11) % (five ? 32 : 16);
            block[qs + j] = (byte)((lo & 0xF) | ((hi & 0xF) << 4));
            qh |= (uint)(lo >> 4) << j | (uint)(hi >> 4) << (j + 16);
            (expected[j], expected[j + 16]) = (lo, hi);
        }
        if (five)
            BitConverter.TryWriteBytes(block.AsSpan(4), qh);
        var y = new float[32];

        ReferenceQuant.Dequantize(type, block, y);

        var dd = (float)(Half)d;
        var mm = (float)(Half)m;
        for (var j = 0; j < 32; j++)
            Assert.Equal(expected[j] * dd + mm, y[j]);
    }

    /// <summary>A crafted IQ4_NL block: each nibble an index into ggml's 16 levels, element j low, j + 16 high; edge scales.</summary>
    [Theory]
    [InlineData(0.0625f)]
    [InlineData(-65504f)]
    [InlineData(5.9604645e-8f)]
    public void DequantizeIQ4NL_IsDTimesTheLevel_InGgmlsLayout(float d)
    {
        sbyte[] levels = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
        var block = new byte[18];
        BitConverter.TryWriteBytes(block.AsSpan(0), BitConverter.HalfToUInt16Bits((Half)d));
        for (var j = 0; j < 16; j++)
            block[2 + j] = (byte)(j | ((15 - j) << 4));
        var y = new float[32];

        ReferenceQuant.Dequantize(GgmlType.IQ4_NL, block, y);

        var dd = (float)(Half)d;
        for (var j = 0; j < 16; j++)
        {
            Assert.Equal(dd * levels[j], y[j]);
            Assert.Equal(dd * levels[15 - j], y[j + 16]);
        }
    }

    [Fact]
    public void DequantizeQ4_0_LowNibbleIsElementJHighNibbleIsElementJPlus16()
    {
        var block = new byte[18];
        BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)0.5f));
        for (var j = 0; j < 16; j++)
            block[2 + j] = (byte)(j | ((15 - j) << 4));
        var y = new float[32];

        ReferenceQuant.Dequantize(GgmlType.Q4_0, block, y);

        for (var j = 0; j < 16; j++)
        {
            Assert.Equal((j - 8) * 0.5f, y[j]);
            Assert.Equal((7 - j) * 0.5f, y[j + 16]);
        }
    }

    [Fact]
    public void DequantizeQ4_K_UsesSixBitScalesAndMinsOfEachSubBlock()
    {
        // Sub-block j: scale j + 1 (sub-blocks 4..7 use the split high bits), min 2j; every quant 3.
        var block = new byte[144];
        BitConverter.TryWriteBytes(block.AsSpan(0), BitConverter.HalfToUInt16Bits((Half)1f));
        BitConverter.TryWriteBytes(block.AsSpan(2), BitConverter.HalfToUInt16Bits((Half)0.25f));
        int[] sc = [1, 2, 3, 4, 45, 46, 47, 63], mn = [0, 2, 4, 6, 50, 52, 54, 60];
        for (var j = 0; j < 4; j++)
        {
            block[4 + j] = (byte)(sc[j] | ((sc[j + 4] >> 4) << 6));
            block[8 + j] = (byte)(mn[j] | ((mn[j + 4] >> 4) << 6));
            block[12 + j] = (byte)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
        }
        block.AsSpan(16).Fill(0x33);
        var y = new float[256];

        ReferenceQuant.Dequantize(GgmlType.Q4_K, block, y);

        for (var i = 0; i < 256; i++)
            Assert.Equal(sc[i / 32] * 3f - 0.25f * mn[i / 32], y[i]);
    }

    [Fact]
    public void DequantizeQ6_K_CombinesLowNibblesAndHighBitPairs()
    {
        // Every weight quant 32 + 5 = 37 (low nibble 5, high bits 2), scale of group g = g - 8, d = 0.5.
        var block = new byte[210];
        block.AsSpan(0, 128).Fill(0x55);
        block.AsSpan(128, 64).Fill(0b10_10_10_10);
        for (var g = 0; g < 16; g++)
            block[192 + g] = (byte)(sbyte)(g - 8);
        BitConverter.TryWriteBytes(block.AsSpan(208), BitConverter.HalfToUInt16Bits((Half)0.5f));
        var y = new float[256];

        ReferenceQuant.Dequantize(GgmlType.Q6_K, block, y);

        for (var i = 0; i < 256; i++)
            Assert.Equal(0.5f * (i / 16 - 8) * 5, y[i]);
    }

    [Fact]
    public void QuantizeQ8_K_StoresSumsOfEach16Quants()
    {
        var x = KernelTestData.Random(256, seed: 3);
        var bytes = new byte[292];

        ReferenceQuant.Quantize(GgmlType.Q8_K, x, bytes);

        for (var g = 0; g < 16; g++)
        {
            var sum = 0;
            for (var j = 0; j < 16; j++)
                sum += (sbyte)bytes[4 + 16 * g + j];
            Assert.Equal(sum, BitConverter.ToInt16(bytes, 260 + 2 * g));
        }
    }

    [Fact]
    public void Quantize_WrongDestinationSize_Throws()
    {
        Assert.Throws<ArgumentException>(() => ReferenceQuant.Quantize(GgmlType.Q4_0, new float[64], new byte[35]));
        Assert.Throws<ArgumentException>(() => ReferenceQuant.Quantize(GgmlType.Q4_0, new float[48], new byte[27]));
    }
}
