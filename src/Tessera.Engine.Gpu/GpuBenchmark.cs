using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gpu;

/// <summary>One matrix product measured on a device: its median time and the weight bytes it read per second.</summary>
public sealed record GpuKernelTiming(string Type, int Rows, int Cols, int Tokens, double MedianMilliseconds, double WeightGBps, double FractionOfCopy);

/// <summary>What <see cref="GpuBenchmark.Run"/> measured.</summary>
public sealed record GpuBenchReport(string Device, double CopyGBps, IReadOnlyList<GpuKernelTiming> Kernels);

/// <summary>
/// The device's memory bandwidth (a copy kernel: bytes read plus written per second) and the decode products'
/// speed against it: a matrix-vector product reads its weights once, so weight bytes per second over the copy's
/// bandwidth is how near the memory bound it runs.
/// </summary>
public static class GpuBenchmark
{
    /// <summary>Layer shapes to time: (rows, cols) of the attention and feed-forward products of a model width.</summary>
    public static IReadOnlyList<(int Rows, int Cols)> ShapesOf(int width, int feedForward) =>
        [(width, width), (feedForward, width), (width, feedForward)];

    public static GpuBenchReport Run(GpuDevice device, IReadOnlyList<GgmlType> types, IReadOnlyList<(int Rows, int Cols)> shapes, int runs, long copyBytes)
    {
        using var ops = new GpuOps(device);
        var copy = MeasureCopy(device, copyBytes, runs);
        var timings = new List<GpuKernelTiming>();
        foreach (var type in types)
        {
            foreach (var (rows, cols) in shapes)
            {
                var ms = MeasureMatMul(device, ops, type, rows, cols, runs);
                var gbps = GgmlTypeInfo.RowBytes(type, cols) * (double)rows / (ms / 1000) / 1e9;
                timings.Add(new GpuKernelTiming(type.ToString(), rows, cols, 1, ms, gbps, gbps / copy));
            }
        }
        return new GpuBenchReport(device.Name, copy, timings);
    }

    private static void Copy(Index1D i, ArrayView<float> source, ArrayView<float> destination) => destination[i] = source[i];

    /// <summary>
    /// The memory bandwidth of CUDA GPU <paramref name="index"/> (a 64 MiB copy kernel, median of 5), what an agent
    /// reports for it; null with the reason when the GPU backend cannot open it (no driver, another index order).
    /// </summary>
    public static (double? GBps, string? Problem) ProbeCuda(int index)
    {
        try
        {
            using var device = GpuDevice.OpenCuda(index);
            return (MeasureBandwidth(device), null);
        }
        catch (Exception e) when (e is GpuUnavailableException or ILGPU.Runtime.Cuda.CudaException or InvalidOperationException or NotSupportedException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>
    /// The bandwidth the pool and <c>tessera bench</c> compare a device with: a 64 MiB copy, median of 5; on the stand-in
    /// 1 MiB once, which takes seconds there.
    /// </summary>
    public static double MeasureBandwidth(GpuDevice device) => device.Kind == GpuDeviceKind.CpuStandIn
        ? MeasureCopy(device, 1L << 20, 1)
        : MeasureCopy(device, 64L << 20, 5);

    /// <summary>Median GB/s of a device-to-device copy of <paramref name="bytes"/> (read and written).</summary>
    public static double MeasureCopy(GpuDevice device, long bytes, int runs)
    {
        var a = device.Accelerator;
        var kernel = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Copy);
        var count = bytes / sizeof(float);
        using var source = a.Allocate1D<float>(count);
        using var destination = a.Allocate1D<float>(count);
        source.MemSetToZero();
        var ms = Median(runs, () => kernel((int)count, source.View, destination.View), a);
        return 2.0 * count * sizeof(float) / (ms / 1000) / 1e9;
    }

    /// <summary>Median milliseconds of one decode product (one token) of a <paramref name="rows"/> x <paramref name="cols"/> matrix of <paramref name="type"/>.</summary>
    public static unsafe double MeasureMatMul(GpuDevice device, GpuOps ops, GgmlType type, int rows, int cols, int runs)
    {
        // One row quantized from random values, repeated: every block is valid, and the kernel reads as many bytes.
        var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var values = new float[cols];
        var random = new Random(1);
        for (var i = 0; i < cols; i++)
            values[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
        var row = new byte[rowBytes];
        ReferenceQuant.Quantize(type, values, row);
        var data = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)((long)rows * rowBytes));
        try
        {
            for (var r = 0; r < rows; r++)
                row.CopyTo(new Span<byte>(data + (long)r * rowBytes, rowBytes));
            using var w = GpuMatrix.Upload(device, new WeightMatrix((nint)data, type, rows, cols, $"bench.{type}"));
            using var x = device.Accelerator.Allocate1D(values);
            using var y = device.Accelerator.Allocate1D<float>(rows);
            return Median(runs, () => ops.MatMul(w, x.View, y.View, 1), device.Accelerator);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(data);
        }
    }

    /// <summary>Median milliseconds of <paramref name="launch"/>, each run waited for; one warm-up run first (compiles, caches).</summary>
    private static double Median(int runs, Action launch, Accelerator accelerator)
    {
        launch();
        accelerator.Synchronize();
        var times = new double[Math.Max(1, runs)];
        for (var i = 0; i < times.Length; i++)
        {
            var started = Stopwatch.GetTimestamp();
            launch();
            accelerator.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }
}
