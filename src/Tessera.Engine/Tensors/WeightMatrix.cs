namespace Tessera.Engine.Tensors;

/// <summary>
/// A weight matrix as stored in a GGUF file: <see cref="Rows"/> output rows of <see cref="Cols"/> inputs,
/// each row <see cref="RowBytes"/> bytes of <see cref="Type"/> blocks, rows contiguous at <see cref="Data"/>
/// (usually a pointer into the memory map; the owner keeps it alive).
/// </summary>
public readonly struct WeightMatrix
{
    public WeightMatrix(nint data, GgmlType type, int rows, int cols, string name = "")
    {
        Data = data;
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypeInfo.RowBytes(type, cols);
        Name = name;
    }

    public nint Data { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowBytes { get; }
    public string Name { get; }

    /// <summary>Total bytes of the matrix.</summary>
    public long ByteSize => RowBytes * Rows;

    /// <summary>Pointer to the first byte of <paramref name="row"/>.</summary>
    public nint RowPointer(int row) => Data + (nint)(RowBytes * row);
}
