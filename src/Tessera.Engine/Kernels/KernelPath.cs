using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>Which instruction set the matrix kernels use.</summary>
public enum KernelPath
{
    /// <summary>The widest path this CPU supports.</summary>
    Auto = 0,

    /// <summary>Portable scalar code (the reference the vector paths are tested against).</summary>
    Scalar = 1,

    /// <summary>256-bit AVX2 + FMA.</summary>
    Avx2 = 2,

    /// <summary>512-bit AVX-512 F/BW (falls back to the AVX2 kernel for types without a 512-bit one).</summary>
    Avx512 = 3,
}

/// <summary>What the CPU supports.</summary>
public static class KernelPaths
{
    /// <summary>The widest path this CPU runs.</summary>
    public static KernelPath Best =>
        IsSupported(KernelPath.Avx512) ? KernelPath.Avx512 : IsSupported(KernelPath.Avx2) ? KernelPath.Avx2 : KernelPath.Scalar;

    /// <summary>True when <paramref name="path"/> can run on this CPU.</summary>
    public static bool IsSupported(KernelPath path) => path switch
    {
        KernelPath.Auto or KernelPath.Scalar => true,
        KernelPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelPath.Avx512 => Avx2.IsSupported && Fma.IsSupported && Avx512F.IsSupported && Avx512BW.IsSupported,
        _ => false,
    };

    /// <summary>Resolves <see cref="KernelPath.Auto"/> and checks support.</summary>
    public static KernelPath Resolve(KernelPath path)
    {
        if (path == KernelPath.Auto)
            return Best;
        if (!IsSupported(path))
            throw new PlatformNotSupportedException($"Kernel path {path} is not supported by this CPU.");
        return path;
    }
}
