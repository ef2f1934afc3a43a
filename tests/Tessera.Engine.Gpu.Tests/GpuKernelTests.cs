using ILGPU;
using ILGPU.Runtime;
using Tessera.Engine.Backends;
using Tessera.Engine.Gpu;
using Tessera.Engine.Kernels;
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
/// The device kernels, run by ILGPU's CPU stand-in (the same kernel code CUDA runs), against the CPU engine: Q8_0
/// activations bit for bit, products and norms to float rounding (a row's blocks are summed in another order).
/// </summary>
public sealed unsafe class GpuKernelTests(StandInDevice standIn) : IClassFixture<StandInDevice>
{
    private readonly GpuDevice _device = standIn.Device;
    private readonly GpuOps _ops = standIn.Ops;

    private static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            var v = (float)(rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5);
            values[i] = (rng.Next(64) == 0 ? 6 * v : v) * scale;
        }
        return values;
    }

    [Fact]
    public void Q8_0Activations_AreTheCpuEnginesBitForBit()
    {
        const int cols = 256, tokens = 3;
        var x = Random(cols * tokens, seed: 1);
        x[5] = 0; // a zero, a block of zeros, and exact halves test the rounding
        for (var i = 32; i < 64; i++)
            x[i] = 0;
        x[70] = 2.5f;
        x[71] = -2.5f;
        using var xs = _device.Accelerator.Allocate1D(x);
        var (qs, d) = _ops.Quantize(xs.View, x.Length);
        _ops.Synchronize();
        var gpuQuants = new sbyte[x.Length];
        var gpuScales = new float[x.Length / 32];
        qs.CopyToCPU(gpuQuants);
        d.CopyToCPU(gpuScales);

        var stride = ActivationQuant.Q8_0Stride(cols);
        var cpu = new byte[stride];
        fixed (float* xp = x)
        fixed (byte* cp = cpu)
        {
            for (var t = 0; t < tokens; t++)
            {
                ActivationQuant.QuantizeQ8_0(xp + t * cols, cols, cp);
                for (var i = 0; i < cols; i++)
                    Assert.Equal(((sbyte*)cp)[i], gpuQuants[t * cols + i]);
                for (var b = 0; b < cols / 32; b++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(ActivationQuant.Q8_0D(cp, cols)[b]), BitConverter.SingleToInt32Bits(gpuScales[t * cols / 32 + b]));
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.F32, 1)]
    [InlineData(GgmlType.F32, 3)]
    [InlineData(GgmlType.F16, 1)]
    [InlineData(GgmlType.F16, 2)]
    [InlineData(GgmlType.Q8_0, 1)]
    [InlineData(GgmlType.Q8_0, 4)]
    [InlineData(GgmlType.Q4_0, 1)]
    [InlineData(GgmlType.Q4_0, 5)]
    [InlineData(GgmlType.BF16, 2)]
    [InlineData(GgmlType.Q5_0, 2)]
    [InlineData(GgmlType.Q4_K, 2)]
    [InlineData(GgmlType.Q5_K, 2)]
    [InlineData(GgmlType.Q6_K, 2)]
    public void MatMul_AgreesWithTheCpuEngine(GgmlType type, int tokens)
    {
        const int rows = 40;
        // 35 blocks of 32 (lanes take one or two each), or five super-blocks of 256.
        var cols = GgmlTypeInfo.BlockSize(type) == 256 ? 1280 : 1120;
        var values = Random(rows * cols, seed: 2, scale: 0.05f);
        var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[rows * rowBytes];
        for (var r = 0; r < rows; r++)
            ReferenceQuant.Quantize(type, values.AsSpan(r * cols, cols), bytes.AsSpan(r * rowBytes, rowBytes));
        var x = Random(tokens * cols, seed: 3);
        var expected = new float[tokens * rows];
        var actual = new float[tokens * rows];
        fixed (byte* data = bytes)
        {
            var w = new WeightMatrix((nint)data, type, rows, cols, "test." + type);
            using (var cpu = new CpuBackend(1))
                cpu.MatMul(w, x, expected, tokens);
            using var gw = GpuMatrix.Upload(_device, w);
            using var xs = _device.Accelerator.Allocate1D(x);
            using var ys = _device.Accelerator.Allocate1D<float>(actual.Length);
            _ops.MatMul(gw, xs.View, ys.View, tokens);
            _ops.Synchronize();
            ys.CopyToCPU(actual);
        }
        // The same integer sums and scales; only the order of a row's block sums differs.
        var scale = expected.Max(MathF.Abs);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-5f * scale + 1e-6f, $"{type} output {i}: {actual[i]} against the CPU's {expected[i]}");
    }

    [Fact]
    public void RmsNormAndSwiGlu_AgreeWithTheCpuEngine()
    {
        const int width = 288, tokens = 3;
        var x = Random(width * tokens, seed: 4);
        var weight = Random(width, seed: 5);
        var expected = new float[x.Length];
        FloatKernels.RmsNorm(x, weight, expected, tokens, 1e-5f);
        using var xs = _device.Accelerator.Allocate1D(x);
        using var ws = _device.Accelerator.Allocate1D(weight);
        using var ys = _device.Accelerator.Allocate1D<float>(x.Length);
        _ops.RmsNorm(xs.View, ws.View, ys.View, tokens, 1e-5f);
        _ops.Synchronize();
        AssertClose(expected, ys.GetAsArray1D(), 2e-6f, "RMSNorm");

        var up = Random(x.Length, seed: 6);
        using var us = _device.Accelerator.Allocate1D(up);
        FloatKernels.SwiGlu(x, up, expected);
        _ops.SwiGlu(xs.View, us.View, ys.View, x.Length);
        _ops.Synchronize();
        AssertClose(expected, ys.GetAsArray1D(), 2e-6f, "SwiGLU");
    }

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void EmbeddingRows_AreTheCpuEnginesBitForBit(GgmlType type)
    {
        const int rows = 12, cols = 96;
        var values = Random(rows * cols, seed: 7);
        var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[rows * rowBytes];
        for (var r = 0; r < rows; r++)
            ReferenceQuant.Quantize(type, values.AsSpan(r * cols, cols), bytes.AsSpan(r * rowBytes, rowBytes));
        int[] ids = [3, 0, 11, 3];
        var expected = new float[ids.Length * cols];
        fixed (byte* data = bytes)
        {
            var w = new WeightMatrix((nint)data, type, rows, cols, "token_embd.weight");
            using (var cpu = new CpuBackend(1))
                cpu.GetRows(w, ids, expected);
            using var gw = GpuMatrix.Upload(_device, w);
            using var idBuffer = _device.Accelerator.Allocate1D(ids);
            using var output = _device.Accelerator.Allocate1D<float>(expected.Length);
            _ops.GetRows(gw, idBuffer.View, output.View, ids.Length);
            _ops.Synchronize();
            var actual = output.GetAsArray1D();
            for (var i = 0; i < expected.Length; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(actual[i]));
        }
    }

    [Theory]
    [InlineData(RopeKind.Normal)]
    [InlineData(RopeKind.NeoX)]
    public void Rope_AgreesWithTheHostTable(RopeKind kind)
    {
        const int tokens = 3, heads = 4, headDim = 32, start = 5;
        var table = new RopeTable(64, headDim, 10000f, 1f, kind);
        var x = Random(tokens * heads * headDim, seed: 8);
        var expected = (float[])x.Clone();
        FloatKernels.Rope(expected, tokens, heads, headDim, start, table);
        using var gpuTable = new GpuRopeTable(_device, table);
        using var xs = _device.Accelerator.Allocate1D(x);
        _ops.Rope(xs.View, gpuTable, tokens, heads, headDim, start);
        _ops.Synchronize();
        AssertClose(expected, xs.GetAsArray1D(), 1e-6f, "RoPE " + kind);
        Assert.Throws<ArgumentOutOfRangeException>(() => _ops.Rope(xs.View, gpuTable, tokens, heads, headDim, 62));
    }

    [Theory]
    [InlineData(1, 9, 64)] // decode: one new position after nine
    [InlineData(4, 3, 64)] // a prompt chunk after three positions
    [InlineData(2, 0, 40)] // a head narrower than two warps' lanes
    public void Attention_AgreesWithTheCpuEngine(int tokens, int start, int headDim)
    {
        const int heads = 4, kvHeads = 2;
        var shape = new AttentionShape(tokens, start, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim));
        var q = Random(tokens * shape.QueryWidth, seed: 9);
        var k = Random((start + tokens) * shape.KvWidth, seed: 10);
        var v = Random((start + tokens) * shape.KvWidth, seed: 11);
        var expected = new float[q.Length];
        using (var cpu = new CpuBackend(1))
            cpu.Attention(q, k, v, expected, shape);
        using var qs = _device.Accelerator.Allocate1D(q);
        using var ks = _device.Accelerator.Allocate1D(k);
        using var vs = _device.Accelerator.Allocate1D(v);
        using var output = _device.Accelerator.Allocate1D<float>(q.Length);
        _ops.Attention(qs.View, ks.View, vs.View, output.View, shape);
        _ops.Synchronize();
        AssertClose(expected, output.GetAsArray1D(), 1e-5f, "attention");
    }

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

    private static void AssertClose(float[] expected, float[] actual, float relative, string what)
    {
        for (var i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= relative * MathF.Max(1f, MathF.Abs(expected[i])), $"{what} {i}: {actual[i]} against the CPU's {expected[i]}");
    }
}
