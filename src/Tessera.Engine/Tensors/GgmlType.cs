namespace Tessera.Engine.Tensors;

/// <summary>Tensor element types as GGUF numbers them (ggml's <c>ggml_type</c>).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
}

/// <summary>Block geometry of each <see cref="GgmlType"/>: weights per block and bytes per block.</summary>
public static class GgmlTypeInfo
{
    /// <summary>True when the type number is one ggml defines (so its size is known).</summary>
    public static bool IsKnown(GgmlType type) => BlockSizeOrZero(type) != 0;

    /// <summary>Weights per block (1 for plain element types).</summary>
    public static int BlockSize(GgmlType type)
    {
        var size = BlockSizeOrZero(type);
        return size != 0 ? size : throw new NotSupportedException($"Unknown tensor type {(uint)type}.");
    }

    /// <summary>Bytes per block.</summary>
    public static int TypeSize(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 => 2,
        GgmlType.BF16 => 2,
        GgmlType.Q4_0 => 18,
        GgmlType.Q4_1 => 20,
        GgmlType.Q5_0 => 22,
        GgmlType.Q5_1 => 24,
        GgmlType.Q8_0 => 34,
        GgmlType.Q8_1 => 36,
        GgmlType.Q2_K => 84,
        GgmlType.Q3_K => 110,
        GgmlType.Q4_K => 144,
        GgmlType.Q5_K => 176,
        GgmlType.Q6_K => 210,
        GgmlType.Q8_K => 292,
        GgmlType.IQ2_XXS => 66,
        GgmlType.IQ2_XS => 74,
        GgmlType.IQ3_XXS => 98,
        GgmlType.IQ1_S => 50,
        GgmlType.IQ4_NL => 18,
        GgmlType.IQ3_S => 110,
        GgmlType.IQ2_S => 82,
        GgmlType.IQ4_XS => 136,
        GgmlType.I8 => 1,
        GgmlType.I16 => 2,
        GgmlType.I32 => 4,
        GgmlType.I64 => 8,
        GgmlType.F64 => 8,
        GgmlType.IQ1_M => 56,
        GgmlType.TQ1_0 => 54,
        GgmlType.TQ2_0 => 66,
        _ => throw new NotSupportedException($"Unknown tensor type {(uint)type}."),
    };

    /// <summary>Bytes of a row of <paramref name="elements"/> weights; the count must be a whole number of blocks.</summary>
    public static long RowBytes(GgmlType type, long elements)
    {
        var block = BlockSize(type);
        if (elements % block != 0)
            throw new ArgumentException($"A row of {elements} elements is not a whole number of {type} blocks of {block}.");
        return elements / block * TypeSize(type);
    }

    /// <summary>Types the engine can compute with (matrix products and row lookups).</summary>
    public static bool IsComputeSupported(GgmlType type) => type is
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0
        or GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.IQ4_NL or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K
        or GgmlType.Q6_K or GgmlType.IQ4_XS;

    private static int BlockSizeOrZero(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.I8 or GgmlType.I16 or GgmlType.I32
            or GgmlType.I64 or GgmlType.F64 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
            or GgmlType.IQ4_NL => 32,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K
            or GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ3_XXS or GgmlType.IQ1_S or GgmlType.IQ3_S
            or GgmlType.IQ2_S or GgmlType.IQ4_XS or GgmlType.IQ1_M or GgmlType.TQ1_0 or GgmlType.TQ2_0 => 256,
        _ => 0,
    };
}
