using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>
/// The tiny real model files hold the same weights in several types (written by llama.cpp): our dequantizers must
/// read each within quantization error of the f16 file, and our products on those real blocks must match the float
/// product of the dequantized weights.
/// </summary>
public class RealModelKernelTests
{
    private static readonly string[] Tensors = ["blk.0.ffn_down.weight", "blk.0.attn_q.weight", "blk.1.ffn_gate.weight", "output.weight"];

    public static TheoryData<string> QuantizedFiles() => new() { "tiny-a-q8_0.gguf", "tiny-a-q4_0.gguf", "tiny-a-q4_k_m.gguf" };

    [Theory]
    [MemberData(nameof(QuantizedFiles))]
    public void Dequantize_RealQuantizedTensors_MatchTheF16FileWithinQuantizationError(string file)
    {
        using var f16 = GgufFile.Open(TestPaths.Model("tiny-a-f16.gguf"));
        using var quantized = GgufFile.Open(TestPaths.Model(file));
        var compared = 0;
        foreach (var name in Tensors)
        {
            if (!f16.TryGetTensor(name, out var reference) || !quantized.TryGetTensor(name, out var tensor))
                continue;
            compared++;
            var expected = Dequantize(f16, reference);
            var actual = Dequantize(quantized, tensor);
            Assert.Equal(expected.Length, actual.Length);

            double err = 0, norm = 0;
            for (var i = 0; i < expected.Length; i++)
            {
                err += (expected[i] - actual[i]) * (double)(expected[i] - actual[i]);
                norm += expected[i] * (double)expected[i];
            }
            var relative = Math.Sqrt(err / norm);
            var bound = tensor.Type switch
            {
                GgmlType.F16 or GgmlType.F32 => 1e-6,
                GgmlType.Q8_0 => 0.01,
                GgmlType.Q6_K => 0.03,
                GgmlType.Q5_0 or GgmlType.Q5_K => 0.06,
                _ => 0.15,
            };
            Assert.True(relative < bound, $"{file} {name} ({tensor.Type}): relative RMS error {relative:G4} >= {bound}");
        }
        Assert.True(compared >= 2, $"only {compared} tensors of {file} were compared");
    }

    [Theory]
    [MemberData(nameof(QuantizedFiles))]
    public void MatMul_OnRealBlocks_MatchesFloatProductOnEveryPath(string file)
    {
        using var model = GgufFile.Open(TestPaths.Model(file));
        var multiplied = 0;
        foreach (var name in Tensors)
        {
            if (!model.TryGetTensor(name, out var tensor) || !GgmlTypeInfo.IsComputeSupported(tensor.Type))
                continue;
            multiplied++;
            var w = model.GetMatrix(tensor);
            var rows = Math.Min(w.Rows, 96);
            var sub = new WeightMatrix(w.Data, w.Type, rows, w.Cols, w.Name);
            var dequantized = Dequantize(model, tensor)[..(rows * w.Cols)];
            const int tokens = 5;
            var x = KernelTestData.Random(tokens * w.Cols, seed: 5);
            var (expected, scale) = KernelTestData.Reference(dequantized, KernelTestData.EffectiveActivations(w.Type, x, w.Cols), rows, w.Cols, tokens);

            foreach (var path in new[] { KernelPath.Scalar, KernelPath.Avx2, KernelPath.Avx512 })
            {
                if (!KernelPaths.IsSupported(path))
                    continue;
                using var backend = new CpuBackend(2, path);
                var y = new float[tokens * rows];
                backend.MatMul(sub, x, y, tokens);
                for (var i = 0; i < y.Length; i++)
                    Assert.True(Math.Abs(y[i] - expected[i]) <= 2e-5 * scale[i] + 1e-6,
                        $"{file} {name} ({w.Type}) {path} [{i}]: {y[i]} vs {expected[i]}");
            }
        }
        Assert.True(multiplied >= 2, $"only {multiplied} tensors of {file} were multiplied");
    }

    private static float[] Dequantize(GgufFile file, GgufTensorInfo tensor)
    {
        var result = new float[tensor.ElementCount];
        ReferenceQuant.Dequantize(tensor.Type, file.GetData(tensor), result);
        return result;
    }
}
