using Tessera.Engine.Backends;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>The check every layout regrouped at load passes: the copy and the file's rows give the reference's bits on every path.</summary>
internal static class RegroupCheck
{
    public static void RegroupedAndRowByRow_GiveTheReferenceBits(GgmlType type, WeightLayout layout, int tokens, int rows, int cols,
        Func<WeightMatrix, float[], int, float[]> reference)
    {
        using var m = new KernelTestData.Matrix(type, rows, cols, seed: 21);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        var grouped = arena.Copy(m.Weights);
        Assert.Equal(layout, grouped.Layout);
        var x = KernelTestData.Random(tokens * cols, seed: 8);

        var expected = reference(m.Weights, x, tokens);
        foreach (var path in new[] { KernelPath.Scalar, KernelPath.Avx2, KernelPath.Avx512 })
        {
            if (!KernelPaths.IsSupported(path))
                continue;
            using var backend = new CpuBackend(2, path);
            var yRows = new float[tokens * rows];
            var yGroups = new float[tokens * rows];
            backend.MatMul(m.Weights, x, yRows, tokens);
            backend.MatMul(grouped, x, yGroups, tokens);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(yRows[i]), $"{path} rows [{i}]: {yRows[i]} vs {expected[i]}");
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(yGroups[i]), $"{path} groups [{i}]: {yGroups[i]} vs {expected[i]}");
            }
        }
    }
}
