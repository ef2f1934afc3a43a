using System.Runtime.CompilerServices;

namespace Tessera.Engine.Kernels;

/// <summary>IEEE half and bfloat16 conversions used by the block formats.</summary>
internal static unsafe class Fp16
{
    // 65536 floats (256 KiB): the f16 -> f32 table used for block scales in the hot loops.
    private static readonly float* Table = BuildTable();

    /// <summary>
    /// Runs the class initializer. Call before any kernel is first compiled: fully optimized code compiled while the
    /// class is still uninitialized keeps an initialization check (a helper call) inside its loops.
    /// </summary>
    public static void EnsureInitialized() => _ = Table;

    /// <summary>Converts IEEE half bits to float (exact; table lookup).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => Table[bits];

    /// <summary>Converts float to IEEE half bits (round to nearest even).</summary>
    public static ushort FromSingle(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Converts bfloat16 bits to float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Converts float to bfloat16 bits (round to nearest even; NaN stays NaN).</summary>
    public static ushort SingleToBF16(float value)
    {
        var u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u)
            return (ushort)((u >> 16) | 0x40);
        u += 0x7FFFu + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    private static float* BuildTable()
    {
        var table = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (var i = 0; i < 65536; i++)
            table[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return table;
    }
}
