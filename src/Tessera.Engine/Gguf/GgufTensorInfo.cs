using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gguf;

/// <summary>
/// One tensor of a GGUF file. <see cref="Dimensions"/> are ggml's ne[]: Dimensions[0] is the innermost
/// (row length), so a weight matrix of Rows x Cols has Dimensions = [Cols, Rows].
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dimensions, long FileOffset, long ByteSize)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dimensions)
                n *= d;
            return n;
        }
    }

    /// <summary>Shape as text, innermost dimension first, e.g. "2048 x 32000".</summary>
    public string ShapeText => string.Join(" x ", Dimensions);
}
