using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Tessera.Engine.Gpu;

/// <summary>What runs a <see cref="GpuDevice"/>'s kernels.</summary>
public enum GpuDeviceKind
{
    /// <summary>An NVIDIA GPU through its CUDA driver.</summary>
    Cuda,

    /// <summary>
    /// ILGPU's CPU accelerator: the same kernels, run by threads that act as a GPU's (warps of 32, shared memory,
    /// barriers). Slow, but it needs no GPU, so tests and CI check every kernel's numerics with it.
    /// </summary>
    CpuStandIn,
}

/// <summary>One accelerator and the ILGPU context that owns it.</summary>
public sealed class GpuDevice : IDisposable
{
    private readonly Context _context;

    private GpuDevice(Context context, Accelerator accelerator, GpuDeviceKind kind)
    {
        _context = context;
        Accelerator = accelerator;
        Kind = kind;
    }

    public Accelerator Accelerator { get; }
    public GpuDeviceKind Kind { get; }

    /// <summary>For logs: "cuda:0 NVIDIA H100 80GB HBM3" or "cpu-stand-in".</summary>
    public string Name => Kind == GpuDeviceKind.Cuda ? $"cuda {Accelerator.Name}" : "cpu-stand-in";

    /// <summary>Threads of one warp: every kernel here runs one warp per group.</summary>
    public int WarpSize => Accelerator.WarpSize;

    /// <summary>Warps the device runs at once (every multiprocessor full): the grid of a grid-stride kernel.</summary>
    public int ResidentWarps => Math.Max(1, Accelerator.MaxNumThreads / Math.Max(1, Accelerator.WarpSize));

    /// <summary>
    /// The CUDA GPU with index <paramref name="index"/> (in the driver's order). Throws <see cref="GpuUnavailableException"/>
    /// naming what is missing when there is no CUDA driver or no such GPU.
    /// </summary>
    public static GpuDevice OpenCuda(int index)
    {
        var context = CreateContext(b => b.Cuda());
        try
        {
            var devices = context.GetCudaDevices();
            if (devices.Count == 0)
                throw new GpuUnavailableException("No CUDA GPU was found: this machine has no NVIDIA GPU, or its driver (libcuda) is not installed.");
            if (index < 0 || index >= devices.Count)
                throw new GpuUnavailableException($"There is no CUDA GPU {index}: this machine has {devices.Count} (0-{devices.Count - 1}).");
            return new GpuDevice(context, devices[index].CreateAccelerator(context), GpuDeviceKind.Cuda);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>ILGPU's CPU accelerator with warps of 32 threads, as NVIDIA GPUs have (tests, CI, machines without a GPU).</summary>
    public static GpuDevice OpenCpuStandIn()
    {
        var context = CreateContext(b => b.CPU(CPUDeviceKind.Nvidia));
        try
        {
            return new GpuDevice(context, context.CreateCPUAccelerator(0), GpuDeviceKind.CpuStandIn);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A context for <paramref name="accelerators"/> with the Algorithms library's math (exp and the like have no
    /// built-in PTX form in ILGPU) and single-precision fast math, as GPU inference engines use.
    /// </summary>
    internal static Context CreateContext(Func<Context.Builder, Context.Builder> accelerators) =>
        Context.Create(b => accelerators(b).Math(MathMode.Fast32BitOnly).EnableAlgorithms());

    /// <summary>The CUDA GPUs this machine's driver shows (empty without a driver or a GPU): index, name, memory.</summary>
    public static IReadOnlyList<(int Index, string Name, long MemoryBytes)> ListCuda()
    {
        using var context = CreateContext(b => b.Cuda());
        var devices = context.GetCudaDevices();
        var list = new List<(int, string, long)>();
        for (var i = 0; i < devices.Count; i++)
            list.Add((i, devices[i].Name, devices[i].MemorySize));
        return list;
    }

    /// <summary>The device name of ILGPU's CPU accelerator standing in for a GPU.</summary>
    public const string StandInName = "stand-in";

    /// <summary>
    /// The device a user names: "cuda:N" (or "gpuN"), or "stand-in" for ILGPU's CPU accelerator. Throws
    /// <see cref="ArgumentException"/> for anything else, <see cref="GpuUnavailableException"/> when it is not there.
    /// </summary>
    public static GpuDevice Open(string name)
    {
        if (name == StandInName)
            return OpenCpuStandIn();
        var digits = name.StartsWith("cuda:", StringComparison.Ordinal) ? name[5..] : name.StartsWith("gpu", StringComparison.Ordinal) ? name[3..] : null;
        if (digits is null || !int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
            throw new ArgumentException($"Unknown device '{name}': name a CUDA GPU as cuda:0 (or gpu0), or stand-in for the CPU accelerator.");
        return OpenCuda(index);
    }

    public void Dispose()
    {
        Accelerator.Dispose();
        _context.Dispose();
    }
}

/// <summary>A GPU asked for is not there (no driver, no such device); the message says which.</summary>
public sealed class GpuUnavailableException(string message) : Exception(message);
