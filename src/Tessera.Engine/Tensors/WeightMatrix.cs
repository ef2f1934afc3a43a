namespace Tessera.Engine.Tensors;

/// <summary>
/// A weight matrix as stored in a GGUF file: <see cref="Rows"/> output rows of <see cref="Cols"/> inputs,
/// each row <see cref="RowBytes"/> bytes of <see cref="Type"/> blocks, rows contiguous at <see cref="Data"/>
/// (usually a pointer into the memory map; the owner keeps it alive).
/// </summary>
public readonly struct WeightMatrix
{
    public WeightMatrix(nint data, GgmlType type, int rows, int cols, string name = "", WeightLayout layout = WeightLayout.Rows)
    {
        Data = data;
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypeInfo.RowBytes(type, cols);
        Name = name;
        Layout = layout;
    }

    /// <summary>How the rows are laid out: as in the file, or regrouped at load for faster products.</summary>
    public WeightLayout Layout { get; }

    public nint Data { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowBytes { get; }
    public string Name { get; }

    /// <summary>Total bytes of the matrix.</summary>
    public long ByteSize => RowBytes * Rows;

    /// <summary>
    /// Rows <c>[first, first + count)</c> as a matrix of their own (the same memory): how a fused tensor (Phi-3's QKV,
    /// its gate-and-up) gives its parts. Only for <see cref="WeightLayout.Rows"/>.
    /// </summary>
    public WeightMatrix RowRange(int first, int count, string name)
    {
        if (Layout != WeightLayout.Rows)
            throw new InvalidOperationException($"Matrix '{Name}' is regrouped; its rows cannot be sliced.");
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first + count, Rows);
        return new WeightMatrix(RowPointer(first), Type, count, Cols, name);
    }

    /// <summary>Pointer to the first byte of <paramref name="row"/> (of its group of eight in a regrouped layout).</summary>
    public nint RowPointer(int row) => Data + (nint)(RowBytes * row);
}

/// <summary>How a matrix's bytes are arranged.</summary>
public enum WeightLayout
{
    /// <summary>Row after row, as in the GGUF file.</summary>
    Rows,

    /// <summary>Q4_0 regrouped eight rows at a time (the same bytes per group; see Kernels.Q4_0Rows8).</summary>
    Q4_0Groups,

    /// <summary>IQ4_NL regrouped eight rows at a time, in Q4_0's grouped layout (see Kernels.IQ4NLRows8).</summary>
    IQ4_NLGroups,

    /// <summary>Q4_K regrouped eight rows at a time (the same bytes per group; see Kernels.Q4_KRows8).</summary>
    Q4_KGroups,
}
