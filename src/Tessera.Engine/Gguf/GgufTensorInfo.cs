using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gguf;

/// <summary>
/// One tensor of a GGUF file. <see cref="Dimensions"/> are ggml's ne[]: Dimensions[0] is the innermost
/// (row length), so a weight matrix of Rows x Cols has Dimensions = [Cols, Rows].
/// </summary>
/// <param name="FileOffset">Where its data starts in the file that holds it.</param>
/// <param name="Part">Which file holds it: 0 for a model in one file; the zero-based part of a split model
/// (<see cref="GgufFile.PartPaths"/>).</param>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dimensions, long FileOffset, long ByteSize, int Part = 0)
{
    /// <summary>
    /// The product of the dimensions. A parsed file's tensors have at most 2^50 elements; checked all the same, because
    /// anyone can make a record, and a wrapped count would pass as a small tensor.
    /// </summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dimensions)
                n = checked(n * d);
            return n;
        }
    }

    /// <summary>Shape as text, innermost dimension first, e.g. "2048 x 32000".</summary>
    public string ShapeText => string.Join(" x ", Dimensions);
}
