using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Pool.Hardware;

/// <summary>The SIMD instruction sets this process can use, as the runtime reports them.</summary>
public static class SimdFeatures
{
    public static IReadOnlyList<string> Detect()
    {
        var features = new List<string>();
        if (Sse42.IsSupported) features.Add("sse4.2");
        if (Avx.IsSupported) features.Add("avx");
        if (Avx2.IsSupported) features.Add("avx2");
        if (Fma.IsSupported) features.Add("fma");
        if (Avx512F.IsSupported) features.Add("avx512f");
        if (Avx512BW.IsSupported) features.Add("avx512bw");
        if (Avx512Vbmi.IsSupported) features.Add("avx512vbmi");
        if (AvxVnni.IsSupported) features.Add("avxvnni");
        if (AdvSimd.IsSupported) features.Add("neon");
        if (Dp.IsSupported) features.Add("dotprod");
        if (features.Count == 0 && Vector128.IsHardwareAccelerated) features.Add("vector128");
        return features;
    }
}
