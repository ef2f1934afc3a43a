using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>The prefill tiles of the 32-value block types (two or four rows x four tokens) against the one-row kernel.</summary>
public unsafe class BlockTileTests
{
    public static TheoryData<GgmlType, KernelPath, int> Cases()
    {
        var data = new TheoryData<GgmlType, KernelPath, int>();
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.IQ4_NL })
            foreach (var path in new[] { KernelPath.Avx2, KernelPath.Avx512 })
                foreach (var cols in new[] { 32, 64, 800, 2048 })
                    data.Add(type, path, cols);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tiles_GiveTheOneRowKernelsBits(GgmlType type, KernelPath path, int cols)
    {
        if (!KernelPaths.IsSupported(path))
            return;
        const int rows = 9, tokens = 4;
        var kernel = MatMulKernel.For(type, path);
        using var m = new KernelTestData.Matrix(type, rows, cols, seed: 31 + cols);
        var x = KernelTestData.Random(tokens * cols, seed: 32 + cols);
        var stride = ActivationQuant.Q8_0Stride(cols);
        var act = new byte[stride * tokens + 64];
        var rowBytes = (nint)GgmlTypeInfo.RowBytes(type, cols);
        fixed (float* xp = x)
        fixed (byte* ap = act)
        {
            for (var t = 0; t < tokens; t++)
                ActivationQuant.QuantizeQ8_0(xp + t * cols, cols, ap + t * stride);
            var expected = new float[tokens * rows];
            for (var t = 0; t < tokens; t++)
                for (var r = 0; r < rows; r++)
                    expected[t * rows + r] = kernel.Dot(m.Data + r * rowBytes, ap + t * stride, cols);

            var quads = new float[tokens * rows];
            fixed (float* y = quads)
                for (var r = 0; r < rows; r++)
                    kernel.Dot4(m.Data + r * rowBytes, ap, stride, cols, y + r, rows);
            Assert.Equal(expected, quads);

            foreach (var (tile, height) in new[] { ((nint)kernel.Dot2x4, 2), ((nint)kernel.Dot4x4, 4) })
            {
                if (tile == 0)
                    continue;
                var f = (delegate*<byte*, nint, byte*, nint, int, float*, nint, void>)tile;
                // Tiles from every first row that fits (odd ones included), then the rest by Dot4.
                for (var first = 0; first + height <= rows; first++)
                {
                    var got = (float[])expected.Clone();
                    for (var t = 0; t < tokens; t++)
                        for (var r = first; r < first + height; r++)
                            got[t * rows + r] = float.NaN;
                    fixed (float* y = got)
                        f(m.Data + first * rowBytes, rowBytes, ap, stride, cols, y + first, rows);
                    Assert.Equal(expected, got);
                }
            }
        }
    }
}
