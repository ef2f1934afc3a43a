using Tessera.Engine.Backends;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

public class MatMulTests
{
    private const int Rows = 37;

    public static TheoryData<GgmlType> Types() => KernelTestData.AllMatMulTypes();

    public static TheoryData<GgmlType, KernelPath> TypesAndVectorPaths()
    {
        var data = new TheoryData<GgmlType, KernelPath>();
        foreach (var type in KernelTestData.MatMulTypes)
            foreach (var path in new[] { KernelPath.Avx2, KernelPath.Avx512 })
                data.Add(type, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatMul_MatchesFloatReferenceOfDequantizedOperands(GgmlType type)
    {
        var cols = KernelTestData.ColsFor(type);
        using var m = new KernelTestData.Matrix(type, Rows, cols, seed: 11);
        using var backend = new CpuBackend(2);
        foreach (var tokens in new[] { 1, 3, 17 })
        {
            var x = KernelTestData.Random(tokens * cols, seed: 100 + tokens);
            var y = new float[tokens * Rows];

            backend.MatMul(m.Weights, x, y, tokens);

            var (expected, scale) = KernelTestData.Reference(m.Dequantized, KernelTestData.EffectiveActivations(type, x, cols), Rows, cols, tokens);
            // Q4_1 and Q5_1 meet their minimum with llama.cpp's Q8_1 s: the block's quant sum times the scale before its f16
            // rounding, then rounded to f16 itself; the reference takes the quants times the rounded scale. Two f16
            // roundings of the minimum's share apart.
            var bound = type is GgmlType.Q4_1 or GgmlType.Q5_1 ? 1e-3 : 2e-5;
            for (var i = 0; i < y.Length; i++)
                Assert.True(Math.Abs(y[i] - expected[i]) <= bound * scale[i] + 1e-6,
                    $"{type} tokens={tokens} [{i}]: {y[i]} vs {expected[i]} (scale {scale[i]})");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndVectorPaths))]
    public void VectorPath_MatchesScalarPath(GgmlType type, KernelPath path)
    {
        if (!KernelPaths.IsSupported(path))
            return; // nothing to compare on this CPU
        var cols = KernelTestData.ColsFor(type);
        using var m = new KernelTestData.Matrix(type, Rows, cols, seed: 12);
        using var scalar = new CpuBackend(1, KernelPath.Scalar);
        using var vector = new CpuBackend(2, path);
        const int tokens = 6;
        var x = KernelTestData.Random(tokens * cols, seed: 7);
        var ys = new float[tokens * Rows];
        var yv = new float[tokens * Rows];

        scalar.MatMul(m.Weights, x, ys, tokens);
        vector.MatMul(m.Weights, x, yv, tokens);

        // K-quants (and IQ4_XS) sum integers exactly; Q8_0, Q5_0, Q4_1, Q5_1 and IQ4_NL follow llama.cpp's one float order on every path.
        var exactInteger = type is GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ4_XS
            or GgmlType.Q8_0 or GgmlType.Q5_0 or GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.IQ4_NL;
        var (_, scale) = KernelTestData.Reference(m.Dequantized, x, Rows, cols, tokens);
        for (var i = 0; i < ys.Length; i++)
        {
            if (exactInteger)
                Assert.Equal(ys[i], yv[i]);
            else
                Assert.True(Math.Abs(ys[i] - yv[i]) <= 1e-5 * scale[i] + 1e-7, $"{type} {path} [{i}]: {yv[i]} vs scalar {ys[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatMul_IsBitIdenticalAcrossThreadCountsAndBatchSizes(GgmlType type)
    {
        var cols = KernelTestData.ColsFor(type);
        using var m = new KernelTestData.Matrix(type, Rows, cols, seed: 13);
        const int tokens = 17;
        var x = KernelTestData.Random(tokens * cols, seed: 9);

        float[] Run(int threads, int batch, int firstToken)
        {
            using var backend = new CpuBackend(threads);
            var y = new float[batch * Rows];
            backend.MatMul(m.Weights, x.AsSpan(firstToken * cols, batch * cols), y, batch);
            return y;
        }

        var reference = Run(1, tokens, 0);
        Assert.Equal(reference, Run(2, tokens, 0));
        Assert.Equal(reference, Run(3, tokens, 0));
        // Every token alone (decode) equals its row inside the batch (prefill); so do odd sub-batches.
        for (var t = 0; t < tokens; t++)
            Assert.Equal(reference.AsSpan(t * Rows, Rows).ToArray(), Run(2, 1, t));
        Assert.Equal(reference.AsSpan(2 * Rows, 5 * Rows).ToArray(), Run(3, 5, 2));
    }

    public static TheoryData<GgmlType, KernelPath> SuperBlockTypesAndVectorPaths()
    {
        var data = new TheoryData<GgmlType, KernelPath>();
        foreach (var type in new[] { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS })
            foreach (var path in new[] { KernelPath.Avx2, KernelPath.Avx512 })
                data.Add(type, path);
        return data;
    }

    /// <summary>
    /// The K-quant tiles (one row x four tokens, two rows x four tokens) give every (row, token) the one-row kernel's
    /// bits: the prefill tiles may not change a logit against decode or llama.cpp.
    /// </summary>
    [Theory]
    [MemberData(nameof(SuperBlockTypesAndVectorPaths))]
    public unsafe void SuperBlockTiles_EqualOneRowKernel_BitForBit(GgmlType type, KernelPath path)
    {
        if (!KernelPaths.IsSupported(path))
            return;
        const int rows = 5, tokens = 4, cols = 1280;
        using var m = new KernelTestData.Matrix(type, rows, cols, seed: 41);
        var kernel = MatMulKernel.For(type, path);
        Assert.Equal(ActivationFormat.Q8_K, kernel.Format);
        var rowBytes = (nint)GgmlTypeInfo.RowBytes(type, cols);
        using var tokenData = new KernelTestData.Q8KTokens(tokens, cols, seed: 42);
        var act = tokenData.Data;
        var stride = tokenData.Stride;
        var one = new float[tokens * rows];
        var four = new float[tokens * rows];
        var pairs = new float[tokens * rows];
        fixed (float* fp = four)
        fixed (float* pp = pairs)
        {
            for (var r = 0; r < rows; r++)
            {
                for (var t = 0; t < tokens; t++)
                    one[t * rows + r] = kernel.Dot(m.Data + r * rowBytes, act + t * stride, cols);
                kernel.Dot4(m.Data + r * rowBytes, act, stride, cols, fp + r, rows);
            }
            // Rows 0-1 and 2-3 as pairs, row 4 alone (as the backend runs an odd row count); without a pair tile, Dot4 alone.
            var r2 = 0;
            if (kernel.Dot2x4 != null)
                for (; r2 + 2 <= rows; r2 += 2)
                    kernel.Dot2x4(m.Data + r2 * rowBytes, rowBytes, act, stride, cols, pp + r2, rows);
            for (; r2 < rows; r2++)
                kernel.Dot4(m.Data + r2 * rowBytes, act, stride, cols, pp + r2, rows);
        }
        for (var i = 0; i < one.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(one[i]), BitConverter.SingleToInt32Bits(four[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(one[i]), BitConverter.SingleToInt32Bits(pairs[i]));
        }
    }

    [Fact]
    public void MatMul_LargeMatrixManyChunks_IsBitIdenticalAcrossThreadCounts()
    {
        using var m = new KernelTestData.Matrix(GgmlType.Q4_0, 1001, 512, seed: 21);
        var x = KernelTestData.Random(40 * 512, seed: 22);
        var y1 = new float[40 * 1001];
        var y3 = new float[40 * 1001];
        using (var b1 = new CpuBackend(1))
            b1.MatMul(m.Weights, x, y1, 40);
        using (var b3 = new CpuBackend(3))
            b3.MatMul(m.Weights, x, y3, 40);
        Assert.Equal(y1, y3);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void GetRows_ReturnsDequantizedRows(GgmlType type)
    {
        var cols = KernelTestData.ColsFor(type);
        using var m = new KernelTestData.Matrix(type, Rows, cols, seed: 14);
        using var backend = new CpuBackend(1);
        int[] rows = [5, 0, 36, 5];
        var output = new float[rows.Length * cols];

        backend.GetRows(m.Weights, rows, output);

        for (var i = 0; i < rows.Length; i++)
            Assert.Equal(m.Dequantized.AsSpan(rows[i] * cols, cols).ToArray(), output.AsSpan(i * cols, cols).ToArray());
    }

    [Fact]
    public void MatMul_TooSmallOutput_Throws()
    {
        using var m = new KernelTestData.Matrix(GgmlType.Q8_0, 4, 64, seed: 1);
        using var backend = new CpuBackend(1);
        Assert.Throws<ArgumentException>(() => backend.MatMul(m.Weights, new float[64], new float[3], 1));
    }

    /// <summary>
    /// A grouped product (Q, K, V; gate and up) must give each matrix exactly what its own product gives, also when
    /// the group mixes activation formats (Q4_K with Q6_K and Q8_0, as Q4_K_M files do) and for several tokens.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K)]
    [InlineData(GgmlType.Q8_0, GgmlType.F16, GgmlType.Q4_K)]
    public void MatMulGroup_EqualsSeparateProducts_BitForBit(GgmlType a, GgmlType b, GgmlType c)
    {
        const int cols = 512;
        using var ma = new KernelTestData.Matrix(a, 67, cols, seed: 21);
        using var mb = new KernelTestData.Matrix(b, 9, cols, seed: 22);
        using var mc = new KernelTestData.Matrix(c, 16, cols, seed: 23);
        using var backend = new CpuBackend(2);
        foreach (var tokens in new[] { 1, 5, 20 })
        {
            var x = KernelTestData.Random(tokens * cols, seed: 30 + tokens);
            var expected = new List<float>();
            foreach (var m in new[] { ma, mb, mc })
            {
                var y = new float[tokens * m.Weights.Rows];
                backend.MatMul(m.Weights, x, y, tokens);
                expected.AddRange(y);
            }
            var grouped = new float[expected.Count + 3];
            grouped[^1] = 42; // past the outputs: untouched

            backend.MatMulGroup([ma.Weights, mb.Weights, mc.Weights], x, grouped, tokens);

            Assert.Equal(expected, grouped[..expected.Count]);
            Assert.Equal(42, grouped[^1]);
        }
    }

    [Fact]
    public void MatMulGroup_RejectsMatricesWithDifferentInputs_AndShortOutputs()
    {
        using var ma = new KernelTestData.Matrix(GgmlType.Q8_0, 4, 64, seed: 1);
        using var mb = new KernelTestData.Matrix(GgmlType.Q8_0, 4, 96, seed: 2);
        using var backend = new CpuBackend(1);

        var mixed = Assert.Throws<ArgumentException>(() => backend.MatMulGroup([ma.Weights, mb.Weights], new float[96], new float[8], 1));
        Assert.Contains("share their input", mixed.Message);
        Assert.Throws<ArgumentException>(() => backend.MatMulGroup([ma.Weights, ma.Weights], new float[64], new float[7], 1));
        Assert.Throws<ArgumentException>(() => backend.MatMulGroup([], new float[64], new float[8], 1));
    }
}

/// <summary>F16 one-token products read activations as floats (rows up to 4096 inputs) or as f16: the same bits.</summary>
public unsafe class F16ActivationReadTests
{
    [Theory]
    [InlineData(2048)]
    [InlineData(5632)]
    [InlineData(4136)]
    public void FloatAndHalfActivations_GiveTheSameBits(int cols)
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            return; // both kernels are AVX-512 only
        const int rows = 6;
        using var m = new KernelTestData.Matrix(GgmlType.F16, rows, cols, seed: 31);
        var x = KernelTestData.Random(cols, seed: 4);
        var act = new byte[ActivationQuant.F16Stride(cols) + 64];
        fixed (float* xp = x)
        fixed (byte* ap = act)
        {
            var token = (byte*)(((nint)ap + 63) & ~(nint)63);
            ActivationQuant.ConvertF16(xp, cols, token);
            for (var r = 0; r < rows; r++)
            {
                var row = (byte*)m.Weights.RowPointer(r);
                var viaFloats = FloatDot<F16Weights>.Avx512Dot(row, token, cols);
                var viaHalves = FloatDot<F16Weights>.Avx512DotHalves(row, token, cols);
                Assert.Equal(BitConverter.SingleToInt32Bits(viaHalves), BitConverter.SingleToInt32Bits(viaFloats));
            }
        }
    }
}
