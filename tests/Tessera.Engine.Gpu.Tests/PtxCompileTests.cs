using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Tessera.Engine.Gpu;

namespace Tessera.Engine.Gpu.Tests;

/// <summary>
/// Every kernel compiles to PTX, the code CUDA runs, on a machine with no GPU: the CPU stand-in runs the C# as it is,
/// so it would not notice code that the PTX backend refuses.
/// </summary>
public sealed class PtxCompileTests
{
    public static TheoryData<string> Kernels() =>
    [
        nameof(GpuKernels.QuantizeQ8_0), nameof(GpuKernels.RmsNorm), nameof(GpuKernels.SwiGlu), nameof(GpuKernels.GetRows),
        nameof(GpuKernels.Rope), nameof(GpuKernels.Attention), nameof(GpuKernels.EffectiveQ8_K), nameof(GpuKernels.EffectiveQ8_0),
        nameof(GpuKernels.Add), nameof(GpuKernels.AddBias), nameof(GpuKernels.GeGlu), nameof(GpuKernels.Scale), nameof(GpuKernels.SoftCap), nameof(GpuKernels.RoundHalfInPlace), nameof(GpuKernels.RoundBFloat16InPlace),
        // The product, once per weight type's arithmetic.
        nameof(QuantRows), nameof(F32Rows), nameof(F16Rows), nameof(DequantRows),
    ];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void EveryKernel_CompilesToPtx(string name)
    {
        var rows = typeof(GpuKernels).Assembly.GetType($"Tessera.Engine.Gpu.{name}");
        var method = rows is null
            ? typeof(GpuKernels).GetMethod(name, BindingFlags.Public | BindingFlags.Static)!
            : typeof(GpuKernels).GetMethod(nameof(GpuKernels.MatMulTiles))!.MakeGenericMethod(rows);
        using var context = GpuDevice.CreateContext(b => b);
        using var backend = new PTXBackend(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_70, nvvmAPI: null!);
        var entry = method.GetParameters()[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
        var kernel = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
        Assert.Contains(".entry", kernel.PTXAssembly);
        if (name == nameof(GpuKernels.RmsNorm))
            Assert.Contains("shfl.sync", kernel.PTXAssembly); // the warp's sum stays in registers
        if (rows is not null || name == nameof(GpuKernels.Attention))
            Assert.Contains("bar.sync", kernel.PTXAssembly); // partial sums meet in shared memory
    }
}
