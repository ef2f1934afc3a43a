using Tessera.Engine.Gpu;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gpu.Tests;

/// <summary>One CPU stand-in device and its compiled kernels for every test (compiling a kernel takes seconds).</summary>
public sealed class StandInDevice : IDisposable
{
    public StandInDevice()
    {
        Device = GpuDevice.OpenCpuStandIn();
        Ops = new GpuOps(Device);
    }

    public GpuDevice Device { get; }
    public GpuOps Ops { get; }

    public void Dispose()
    {
        Ops.Dispose();
        Device.Dispose();
    }
}

/// <summary>
/// The device kernels, run by ILGPU's CPU stand-in (the same kernel code CUDA runs), against the CPU engine through
/// <see cref="GpuSelfCheck"/> (what <c>tessera gpu check</c> runs on a GPU): Q8_0 activations and embedding rows bit
/// for bit, products, norms and attention to float rounding (sums are added in another order).
/// </summary>
public sealed unsafe class GpuKernelTests(StandInDevice standIn) : IClassFixture<StandInDevice>
{
    private readonly GpuDevice _device = standIn.Device;
    private readonly GpuOps _ops = standIn.Ops;

    private static void AssertPassed(GpuCheckResult result) => Assert.True(result.Passed, result.ToString());

    [Fact]
    public void Q8_0Activations_AreTheCpuEnginesBitForBit() => AssertPassed(GpuSelfCheck.QuantizeQ8_0(_device, _ops));

    [Theory]
    [InlineData(GgmlType.F32, 1)]
    [InlineData(GgmlType.F32, 3)]
    [InlineData(GgmlType.F16, 1)]
    [InlineData(GgmlType.F16, 2)]
    [InlineData(GgmlType.Q8_0, 1)]
    [InlineData(GgmlType.Q8_0, 4)]
    [InlineData(GgmlType.Q4_0, 1)]
    [InlineData(GgmlType.Q4_0, 5)]
    [InlineData(GgmlType.Q8_0, 22)] // a prompt: several chunks of tokens
    [InlineData(GgmlType.BF16, 2)]
    [InlineData(GgmlType.Q5_0, 2)]
    [InlineData(GgmlType.Q4_1, 2)]
    [InlineData(GgmlType.Q5_1, 3)]
    [InlineData(GgmlType.IQ4_NL, 2)]
    [InlineData(GgmlType.Q4_K, 2)]
    [InlineData(GgmlType.Q5_K, 2)]
    [InlineData(GgmlType.Q6_K, 2)]
    [InlineData(GgmlType.Q2_K, 2)]
    [InlineData(GgmlType.Q3_K, 3)]
    [InlineData(GgmlType.IQ4_XS, 2)]
    public void MatMul_AgreesWithTheCpuEngine(GgmlType type, int tokens) => AssertPassed(GpuSelfCheck.MatMul(_device, _ops, type, tokens));

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.F16)]
    public void GroupedProducts_PrepareTheInputOnce_AndAgreeWithTheCpuEngine(GgmlType type) =>
        AssertPassed(GpuSelfCheck.MatMulGroup(_device, _ops, type));

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.IQ4_NL)]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.IQ4_XS)]
    public void EmbeddingRows_AreTheCpuEnginesBitForBit(GgmlType type) => AssertPassed(GpuSelfCheck.EmbeddingRows(_device, _ops, type));

    [Fact]
    public void RmsNormAndSwiGlu_AgreeWithTheCpuEngine()
    {
        AssertPassed(GpuSelfCheck.RmsNorm(_device, _ops));
        AssertPassed(GpuSelfCheck.SwiGlu(_device, _ops));
    }

    [Fact]
    public void AddBiasAndRoundings_AreTheCpuEnginesBitForBit() => AssertPassed(GpuSelfCheck.ElementWise(_device, _ops));

    [Fact]
    public void GemmaOperations_AgreeWithTheCpuEngine()
    {
        AssertPassed(GpuSelfCheck.GeGlu(_device, _ops));
        AssertPassed(GpuSelfCheck.ScaleAndSoftCap(_device, _ops));
        AssertPassed(GpuSelfCheck.Attention(_device, _ops, tokens: 24, start: 0, headDim: 64, softCap: 10, window: 16));
        AssertPassed(GpuSelfCheck.Attention(_device, _ops, tokens: 1, start: 40, headDim: 64, softCap: 10, window: 16));
    }

    [Theory]
    [InlineData(RopeKind.Normal)]
    [InlineData(RopeKind.NeoX)]
    public void Rope_AgreesWithTheHostTable(RopeKind kind)
    {
        AssertPassed(GpuSelfCheck.Rope(_device, _ops, kind));
        using var table = new GpuRopeTable(_device, new RopeTable(64, 32, 10000f, 1f, kind));
        using var x = _device.Accelerator.Allocate1D<float>(3 * 4 * 32);
        Assert.Throws<ArgumentOutOfRangeException>(() => _ops.Rope(x.View, table, 3, 4, 32, 62));
    }

    [Theory]
    [InlineData(1, 9, 64)] // decode: one new position after nine
    [InlineData(4, 3, 64)] // a prompt chunk after three positions
    [InlineData(2, 0, 40)] // a head narrower than two warps' lanes
    [InlineData(40, 0, 32)] // a prompt longer than a warp: lanes take several positions
    [InlineData(1, 70, 128)] // a decode step late in a session
    public void Attention_AgreesWithTheCpuEngine(int tokens, int start, int headDim) =>
        AssertPassed(GpuSelfCheck.Attention(_device, _ops, tokens, start, headDim));

    [Fact]
    public void AnUnsupportedType_IsRefusedByName()
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q8_K, 256)];
        fixed (byte* data = bytes)
        {
            var w = new WeightMatrix((nint)data, GgmlType.Q8_K, 1, 256, "blk.0.ffn_down.weight");
            var e = Assert.Throws<NotSupportedException>(() => GpuMatrix.Upload(_device, w));
            Assert.Contains("blk.0.ffn_down.weight is Q8_K", e.Message);
            Assert.Contains("Q4_0", e.Message);
        }
    }

    [Fact]
    public void AMatrixRegroupedForTheCpu_IsRefusedWithWhatToDo()
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q4_0, 64) * 8];
        fixed (byte* data = bytes)
        {
            var w = new WeightMatrix((nint)data, GgmlType.Q4_0, 8, 64, "blk.3.ffn_up.weight", WeightLayout.Q4_0Groups);
            var e = Assert.Throws<NotSupportedException>(() => GpuMatrix.Upload(_device, w));
            Assert.Contains("blk.3.ffn_up.weight was regrouped", e.Message);
            Assert.Contains("--weights map", e.Message);
        }
    }

    [Fact]
    public void TheJoinProbe_OfAGpuTheBackendCannotOpen_GivesNoSpeedAndTheReason()
    {
        var cuda = GpuDevice.ListCuda();
        var (gbps, problem) = GpuBenchmark.ProbeCuda(cuda.Count); // one past the last: never there
        Assert.Null(gbps);
        Assert.Contains(cuda.Count == 0 ? "No CUDA GPU" : $"There is no CUDA GPU {cuda.Count}", problem);
    }

    [Fact]
    public void ACheckPasses_OnlyWithinItsBound()
    {
        Assert.True(new GpuCheckResult("x", 0, 0).Passed);
        Assert.False(new GpuCheckResult("x", 1, 0).Passed);
        Assert.Contains("FAILED", new GpuCheckResult("x", 2e-5, 1e-5).ToString());
    }
}
