using ILGPU;
using ILGPU.Runtime;
using Tessera.Engine.Backends;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gpu;

/// <summary>
/// One check of a device kernel against the CPU engine: the largest difference found (for products, relative to the
/// largest output; for bit-exact operations, the number of values that differ) and the bound it must stay within.
/// </summary>
public sealed record GpuCheckResult(string Check, double Error, double Bound)
{
    public bool Passed => Error <= Bound;

    public override string ToString() => $"{Check}: {Error:G3} (bound {Bound:G3}) {(Passed ? "ok" : "FAILED")}";
}

/// <summary>
/// The device kernels against <see cref="CpuBackend"/> on random data: what the tests run on ILGPU's CPU stand-in, and
/// what <c>tessera gpu check</c> runs on a real GPU (whose fast math may differ where the stand-in does not). Bit-exact
/// operations (Q8_0 activations, embedding rows) count differing values; the rest compare to float rounding.
/// </summary>
public static unsafe class GpuSelfCheck
{
    /// <summary>Relative bound for products: the same integer sums and scales, summed in another order.</summary>
    public const double ProductBound = 1e-5;

    /// <summary>
    /// Q4_1 and Q5_1 (a minimum per block): the CPU engine meets the minimum with Q8_1's s, the activations' block sum
    /// rounded to f16 (as llama.cpp does); the GPU's dequantizing product with the exact sum. They differ by up to that
    /// f16 step (2^-11 of the minimum's share).
    /// </summary>
    public const double MinimumProductBound = 1e-3;

    private static double BoundFor(GgmlType type) => type is GgmlType.Q4_1 or GgmlType.Q5_1 ? MinimumProductBound : ProductBound;

    /// <summary>Every check, in a fixed order.</summary>
    public static IReadOnlyList<GpuCheckResult> All(GpuDevice device, GpuOps ops)
    {
        var results = new List<GpuCheckResult> { QuantizeQ8_0(device, ops) };
        foreach (var type in GpuMatrix.SupportedTypes)
            results.Add(MatMul(device, ops, type, tokens: type is GgmlType.Q8_0 or GgmlType.Q4_0 ? 4 : 2));
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.F16 })
            results.Add(MatMulGroup(device, ops, type));
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q3_K })
            results.Add(EmbeddingRows(device, ops, type));
        results.Add(RmsNorm(device, ops));
        results.Add(SwiGlu(device, ops));
        results.Add(GeGlu(device, ops));
        results.Add(ScaleAndSoftCap(device, ops));
        results.Add(ElementWise(device, ops));
        results.Add(Rope(device, ops, RopeKind.Normal));
        results.Add(Rope(device, ops, RopeKind.NeoX));
        results.Add(Attention(device, ops, tokens: 1, start: 9, headDim: 64));
        results.Add(Attention(device, ops, tokens: 4, start: 3, headDim: 64));
        results.Add(Attention(device, ops, tokens: 2, start: 0, headDim: 40));
        // Longer than a warp: lanes take several positions each (a prompt, and a decode step late in a session).
        results.Add(Attention(device, ops, tokens: 40, start: 0, headDim: 32));
        results.Add(Attention(device, ops, tokens: 1, start: 70, headDim: 128));
        // Gemma 2's attention: scores soft-capped, a sliding window of 16 positions (a prompt past it, and a decode step).
        results.Add(Attention(device, ops, tokens: 24, start: 0, headDim: 64, softCap: 10, window: 16));
        results.Add(Attention(device, ops, tokens: 1, start: 40, headDim: 64, softCap: 10, window: 16));
        return results;
    }

    /// <summary>Roughly Gaussian values with occasional outliers, like real weights and activations.</summary>
    internal static float[] Random(int count, int seed, float scale = 1f)
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

    /// <summary>Q8_0 activations of three rows (with a zero, a block of zeros and exact halves): differing quants and scales.</summary>
    public static GpuCheckResult QuantizeQ8_0(GpuDevice device, GpuOps ops)
    {
        const int cols = 256, tokens = 3;
        var x = Random(cols * tokens, seed: 1);
        x[5] = 0;
        Array.Clear(x, 32, 32);
        x[70] = 2.5f;
        x[71] = -2.5f;
        using var xs = device.Accelerator.Allocate1D(x);
        var (qs, d) = ops.Quantize(xs.View, x.Length);
        ops.Synchronize();
        var quants = new sbyte[x.Length];
        var scales = new float[x.Length / 32];
        qs.CopyToCPU(quants);
        d.CopyToCPU(scales);
        var cpu = new byte[ActivationQuant.Q8_0Stride(cols)];
        var differing = 0;
        fixed (float* xp = x)
        fixed (byte* cp = cpu)
        {
            for (var t = 0; t < tokens; t++)
            {
                ActivationQuant.QuantizeQ8_0(xp + t * cols, cols, cp);
                for (var i = 0; i < cols; i++)
                    differing += ((sbyte*)cp)[i] == quants[t * cols + i] ? 0 : 1;
                for (var b = 0; b < cols / 32; b++)
                    differing += BitConverter.SingleToInt32Bits(ActivationQuant.Q8_0D(cp, cols)[b]) == BitConverter.SingleToInt32Bits(scales[t * cols / 32 + b]) ? 0 : 1;
            }
        }
        return new GpuCheckResult("Q8_0 activations (values differing)", differing, 0);
    }

    /// <summary>A 40-row product of <paramref name="type"/> against <paramref name="tokens"/> tokens: 35 blocks of 32, or five of 256.</summary>
    public static GpuCheckResult MatMul(GpuDevice device, GpuOps ops, GgmlType type, int tokens)
    {
        const int rows = 40;
        var cols = GgmlTypeInfo.BlockSize(type) == 256 ? 1280 : 1120;
        var bytes = Quantized(type, rows, cols, seed: 2, scale: 0.05f);
        var x = Random(tokens * cols, seed: 3);
        var expected = new float[tokens * rows];
        var actual = new float[tokens * rows];
        fixed (byte* data = bytes)
        {
            var w = new WeightMatrix((nint)data, type, rows, cols, "check." + type);
            using (var cpu = new CpuBackend(1))
                cpu.MatMul(w, x, expected, tokens);
            using var gw = GpuMatrix.Upload(device, w);
            using var xs = device.Accelerator.Allocate1D(x);
            using var ys = device.Accelerator.Allocate1D<float>(actual.Length);
            ops.MatMul(gw, xs.View, ys.View, tokens);
            ops.Synchronize();
            ys.CopyToCPU(actual);
        }
        return CompareToLargest($"{type} product, {tokens} tokens", expected, actual, BoundFor(type));
    }

    /// <summary>
    /// Q, K and V of <paramref name="type"/> (40, 24 and 24 rows) from one input, as the GPU runs them (the input
    /// prepared once), against the CPU's grouped product: relative to the largest output.
    /// </summary>
    public static GpuCheckResult MatMulGroup(GpuDevice device, GpuOps ops, GgmlType type)
    {
        const int tokens = 3;
        int[] rows = [40, 24, 24];
        var cols = GgmlTypeInfo.BlockSize(type) == 256 ? 512 : 160;
        var bytes = rows.Select((r, i) => Quantized(type, r, cols, seed: 20 + i, scale: 0.05f)).ToArray();
        var x = Random(tokens * cols, seed: 23);
        var expected = new float[tokens * rows.Sum()];
        var actual = new float[expected.Length];
        var handles = bytes.Select(b => System.Runtime.InteropServices.GCHandle.Alloc(b, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
        try
        {
            var weights = rows.Select((r, i) => new WeightMatrix(handles[i].AddrOfPinnedObject(), type, r, cols, $"check.{type}.{i}")).ToArray();
            using (var cpu = new CpuBackend(1))
                cpu.MatMulGroup(weights, x, expected, tokens);
            var matrices = weights.Select(w => GpuMatrix.Upload(device, w)).ToArray();
            try
            {
                using var xs = device.Accelerator.Allocate1D(x);
                using var ys = device.Accelerator.Allocate1D<float>(actual.Length);
                ops.MatMulGroup(matrices, xs.View, ys.View, tokens);
                ops.Synchronize();
                ys.CopyToCPU(actual);
            }
            finally
            {
                foreach (var m in matrices)
                    m.Dispose();
            }
        }
        finally
        {
            foreach (var h in handles)
                h.Free();
        }
        return CompareToLargest($"{type} grouped products, {tokens} tokens", expected, actual, BoundFor(type));
    }

    /// <summary>Embedding rows of <paramref name="type"/>: values differing from the CPU's dequantization.</summary>
    public static GpuCheckResult EmbeddingRows(GpuDevice device, GpuOps ops, GgmlType type)
    {
        const int rows = 12;
        var cols = GgmlTypeInfo.BlockSize(type) == 256 ? 512 : 96;
        var bytes = Quantized(type, rows, cols, seed: 7, scale: 1f);
        int[] ids = [3, 0, 11, 3];
        var expected = new float[ids.Length * cols];
        float[] actual;
        fixed (byte* data = bytes)
        {
            var w = new WeightMatrix((nint)data, type, rows, cols, "token_embd.weight");
            using (var cpu = new CpuBackend(1))
                cpu.GetRows(w, ids, expected);
            using var gw = GpuMatrix.Upload(device, w);
            using var idBuffer = device.Accelerator.Allocate1D(ids);
            using var output = device.Accelerator.Allocate1D<float>(expected.Length);
            ops.GetRows(gw, idBuffer.View, output.View, ids.Length);
            ops.Synchronize();
            actual = output.GetAsArray1D();
        }
        var differing = 0;
        for (var i = 0; i < expected.Length; i++)
            differing += BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) ? 0 : 1;
        return new GpuCheckResult($"{type} embedding rows (values differing)", differing, 0);
    }

    public static GpuCheckResult RmsNorm(GpuDevice device, GpuOps ops)
    {
        const int width = 288, tokens = 3;
        var x = Random(width * tokens, seed: 4);
        var weight = Random(width, seed: 5);
        var expected = new float[x.Length];
        FloatKernels.RmsNorm(x, weight, expected, tokens, 1e-5f);
        using var xs = device.Accelerator.Allocate1D(x);
        using var ws = device.Accelerator.Allocate1D(weight);
        using var ys = device.Accelerator.Allocate1D<float>(x.Length);
        ops.RmsNorm(xs.View, ws.View, ys.View, tokens, 1e-5f);
        ops.Synchronize();
        return Compare("RMSNorm", expected, ys.GetAsArray1D(), 2e-6);
    }

    /// <summary>
    /// The residual add, the bias add, and the f16 and bf16 roundings (KV cache, bf16 inputs) over one buffer in turn:
    /// each is one IEEE operation or a bit manipulation, so the result must be the CPU's bit for bit.
    /// </summary>
    public static GpuCheckResult ElementWise(GpuDevice device, GpuOps ops)
    {
        const int tokens = 3, width = 96;
        var a = Random(tokens * width, seed: 12, scale: 40f); // past f16's 2^-14 subnormal range and up to thousands
        var b = Random(a.Length, seed: 13);
        var bias = Random(width, seed: 14);
        var expected = new float[a.Length];
        System.Numerics.Tensors.TensorPrimitives.Add(a, b, expected);
        for (var t = 0; t < tokens; t++)
            System.Numerics.Tensors.TensorPrimitives.Add(expected.AsSpan(t * width, width), bias, expected.AsSpan(t * width, width));
        var half = expected.ToArray();
        FloatKernels.RoundToHalf(half);
        var brain = expected.ToArray();
        FloatKernels.RoundToBFloat16(brain);
        using var xs = device.Accelerator.Allocate1D(a);
        using var bs = device.Accelerator.Allocate1D(b);
        using var biases = device.Accelerator.Allocate1D(bias);
        using var halves = device.Accelerator.Allocate1D<float>(a.Length);
        ops.Add(xs.View, bs.View, xs.View, a.Length);
        ops.AddBias(xs.View, biases.View, tokens);
        halves.View.CopyFrom(xs.View);
        ops.RoundToHalf(halves.View);
        ops.RoundToBFloat16(xs.View);
        ops.Synchronize();
        var differing = Differing(expected.Length, i => brain[i], xs.GetAsArray1D()) + Differing(expected.Length, i => half[i], halves.GetAsArray1D());
        return new GpuCheckResult("add, bias, f16 and bf16 rounding (values differing)", differing, 0);
    }

    private static int Differing(int count, Func<int, float> expected, float[] actual)
    {
        var differing = 0;
        for (var i = 0; i < count; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected(i)) != BitConverter.SingleToInt32Bits(actual[i]))
                differing++;
        }
        return differing;
    }

    public static GpuCheckResult SwiGlu(GpuDevice device, GpuOps ops)
    {
        var gate = Random(864, seed: 4);
        var up = Random(gate.Length, seed: 6);
        var expected = new float[gate.Length];
        FloatKernels.SwiGlu(gate, up, expected);
        return Compare("SwiGLU", expected, Gated(device, ops, gate, up, ops.SwiGlu), 2e-6);
    }

    /// <summary>GELU-gated product (Gemma 2's feed-forward): the same f16 table, so bit for bit, gates past ±10 included.</summary>
    public static GpuCheckResult GeGlu(GpuDevice device, GpuOps ops)
    {
        var gate = Random(864, seed: 12, scale: 4f);
        (gate[0], gate[1], gate[2], gate[3]) = (-10f, 10f, -12.5f, 11f);
        var up = Random(gate.Length, seed: 13);
        var expected = new float[gate.Length];
        FloatKernels.GeGlu(gate, up, expected);
        return new GpuCheckResult("GeGLU (values differing)", Differing(gate.Length, i => expected[i], Gated(device, ops, gate, up, ops.GeGlu)), 0);
    }

    /// <summary>A gated product on the device: <paramref name="op"/>(gate, up, output, count).</summary>
    private static float[] Gated(GpuDevice device, GpuOps ops, float[] gate, float[] up, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int> op)
    {
        using var gs = device.Accelerator.Allocate1D(gate);
        using var us = device.Accelerator.Allocate1D(up);
        using var ys = device.Accelerator.Allocate1D<float>(gate.Length);
        op(gs.View, us.View, ys.View, gate.Length);
        ops.Synchronize();
        return ys.GetAsArray1D();
    }

    /// <summary>Scaling (bit for bit) and soft-capping (tanh: the device's own, within a few ulps).</summary>
    public static GpuCheckResult ScaleAndSoftCap(GpuDevice device, GpuOps ops)
    {
        var x = Random(1000, seed: 14, scale: 30f);
        var expected = (float[])x.Clone();
        System.Numerics.Tensors.TensorPrimitives.Multiply(expected, 11.3137085f, expected);
        FloatKernels.SoftCap(expected, 25f);
        using var xs = device.Accelerator.Allocate1D(x);
        ops.Scale(xs.View, 11.3137085f);
        ops.SoftCap(xs.View, 25f);
        ops.Synchronize();
        return Compare("scale then soft cap", expected, xs.GetAsArray1D(), 1e-6);
    }

    public static GpuCheckResult Rope(GpuDevice device, GpuOps ops, RopeKind kind)
    {
        const int tokens = 3, heads = 4, headDim = 32, start = 5;
        var table = new RopeTable(64, headDim, 10000f, 1f, kind);
        var x = Random(tokens * heads * headDim, seed: 8);
        var expected = (float[])x.Clone();
        FloatKernels.Rope(expected, tokens, heads, headDim, start, table);
        using var gpuTable = new GpuRopeTable(device, table);
        using var xs = device.Accelerator.Allocate1D(x);
        ops.Rope(xs.View, gpuTable, tokens, heads, headDim, start);
        ops.Synchronize();
        return Compare($"RoPE ({kind})", expected, xs.GetAsArray1D(), 1e-6);
    }

    public static GpuCheckResult Attention(GpuDevice device, GpuOps ops, int tokens, int start, int headDim, float softCap = 0, int window = 0)
    {
        const int heads = 4, kvHeads = 2;
        var shape = new AttentionShape(tokens, start, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim)) { SoftCap = softCap, Window = window };
        var q = Random(tokens * shape.QueryWidth, seed: 9);
        var k = Random((start + tokens) * shape.KvWidth, seed: 10);
        var v = Random((start + tokens) * shape.KvWidth, seed: 11);
        var expected = new float[q.Length];
        using (var cpu = new CpuBackend(1))
            cpu.Attention(q, k, v, expected, shape);
        using var qs = device.Accelerator.Allocate1D(q);
        using var ks = device.Accelerator.Allocate1D(k);
        using var vs = device.Accelerator.Allocate1D(v);
        using var output = device.Accelerator.Allocate1D<float>(q.Length);
        ops.Attention(qs.View, ks.View, vs.View, output.View, shape);
        ops.Synchronize();
        // The probabilities are rounded to f16 (as llama.cpp does) after sums taken in another order than the CPU's: one
        // on a rounding boundary can round the other way, moving the output by one f16 step (2^-11) of that weight.
        var variant = (softCap > 0 ? $", soft cap {softCap}" : "") + (window > 0 ? $", window {window}" : "");
        return Compare($"attention, {tokens} rows after {start}, heads of {headDim}{variant}", expected, output.GetAsArray1D(), 1e-4);
    }

    /// <summary>The largest difference, relative to the largest expected value (products: small outputs are sums that cancel).</summary>
    private static GpuCheckResult CompareToLargest(string check, float[] expected, float[] actual, double bound)
    {
        var scale = expected.Max(MathF.Abs);
        var error = 0.0;
        for (var i = 0; i < expected.Length; i++)
            error = Math.Max(error, Math.Abs(expected[i] - actual[i]) / scale);
        return new GpuCheckResult(check + " (relative)", error, bound);
    }

    /// <summary>The largest difference, relative to the value (or to 1 below it).</summary>
    private static GpuCheckResult Compare(string check, float[] expected, float[] actual, double bound)
    {
        var error = 0.0;
        for (var i = 0; i < expected.Length; i++)
            error = Math.Max(error, Math.Abs(expected[i] - actual[i]) / Math.Max(1f, Math.Abs(expected[i])));
        return new GpuCheckResult(check + " (relative)", error, bound);
    }

    private static byte[] Quantized(GgmlType type, int rows, int cols, int seed, float scale)
    {
        var values = Random(rows * cols, seed, scale);
        var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[rows * rowBytes];
        for (var r = 0; r < rows; r++)
            ReferenceQuant.Quantize(type, values.AsSpan(r * cols, cols), bytes.AsSpan(r * rowBytes, rowBytes));
        return bytes;
    }
}
