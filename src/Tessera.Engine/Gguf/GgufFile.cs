using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gguf;

/// <summary>
/// A GGUF file (v2 or v3) opened read-only: metadata and tensor infos parsed and checked up front, tensor
/// data memory-mapped (weights are never copied into managed arrays). Any problem with the file is reported
/// as a <see cref="GgufFormatException"/> naming the file, the byte offset and what is wrong.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    public const uint DefaultAlignment = 32;

    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    public const int MaxDimensions = 4;

    private readonly GgufMappedFile[] _parts;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private bool _disposed;

    /// <param name="parts">The file, or every part of a split model in order (part 1 holds the metadata).</param>
    internal GgufFile(GgufMappedFile[] parts, List<GgufTensorInfo> tensors)
    {
        _parts = parts;
        var first = parts[0].Header;
        Version = first.Version;
        Metadata = first.Metadata;
        Tensors = tensors;
        TensorInfoOffset = first.TensorInfoOffset;
        DataOffset = first.DataOffset;
        Alignment = first.Alignment;
        PartPaths = parts.Select(p => p.Path).ToArray();
        FileLength = parts.Sum(p => p.Length);
        _tensorsByName = new Dictionary<string, GgufTensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (var t in tensors)
            _tensorsByName[t.Name] = t;
    }

    /// <summary>The file (part 1 of a split model).</summary>
    public string FilePath => _parts[0].Path;

    /// <summary>The file, or every part of a split model in order; a tensor's <see cref="GgufTensorInfo.Part"/> indexes it.</summary>
    public IReadOnlyList<string> PartPaths { get; }

    /// <summary>Whether the model is split over several files.</summary>
    public bool IsSplit => _parts.Length > 1;

    /// <summary>Bytes of the file (of all parts, for a split model).</summary>
    public long FileLength { get; }

    public uint Version { get; }

    public GgufMetadata Metadata { get; }

    /// <summary>Every tensor (of all parts, for a split model).</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Absolute file offset where the tensor infos start (just after the metadata), in part 1.</summary>
    public long TensorInfoOffset { get; }

    /// <summary>Absolute file offset where tensor data starts, in part 1.</summary>
    public long DataOffset { get; }

    public uint Alignment { get; }

    /// <summary>general.architecture, e.g. "llama".</summary>
    public string Architecture => Metadata.GetString("general.architecture");

    /// <summary>
    /// Opens and validates <paramref name="path"/>. A part of a split model (<c>NAME-00001-of-00003.gguf</c>, as
    /// llama.cpp's gguf-split writes them) opens every part of its set, whichever part is named: one model whose tensors
    /// are the union of the parts' (<see cref="GgufSplitSet"/>). Any problem with the file or a part (missing, a
    /// directory, unreadable, truncated, corrupt, unsupported, not of the same set) is a <see cref="GgufFormatException"/>
    /// naming that file; nothing else escapes for bad input.
    /// </summary>
    public static GgufFile Open(string path)
    {
        var file = GgufMappedFile.Open(path);
        try
        {
            return GgufSplitSet.IsPart(file) ? GgufSplitSet.Open(file) : new GgufFile([file], file.Header.Tensors);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public bool TryGetTensor(string name, out GgufTensorInfo tensor) => _tensorsByName.TryGetValue(name, out tensor!);

    public GgufTensorInfo GetTensor(string name) =>
        _tensorsByName.TryGetValue(name, out var t) ? t : throw new GgufFormatException(FilePath, $"required tensor '{name}' is missing.");

    /// <summary>Pointer to the first byte of a tensor's data inside the memory map; valid until disposal.</summary>
    public nint GetDataPointer(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)tensor.Part >= (uint)_parts.Length)
            throw new ArgumentOutOfRangeException(nameof(tensor), $"tensor '{tensor.Name}' is in part {tensor.Part}; {FilePath} has {_parts.Length} part(s).");
        return (nint)(_parts[tensor.Part].Base + tensor.FileOffset);
    }

    /// <summary>A tensor's bytes (tensors under 2 GiB).</summary>
    public ReadOnlySpan<byte> GetData(GgufTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue)
            throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteSize} bytes; use GetDataPointer for tensors over 2 GiB.");
        return new ReadOnlySpan<byte>((void*)GetDataPointer(tensor), (int)tensor.ByteSize);
    }

    /// <summary>A 2-D tensor as a weight matrix (Rows = Dimensions[1], Cols = Dimensions[0]); 1-D tensors give one row.</summary>
    public WeightMatrix GetMatrix(GgufTensorInfo tensor)
    {
        var dims = tensor.Dimensions;
        long rows = 1;
        for (var i = 1; i < dims.Length; i++)
            rows = checked(rows * dims[i]); // at most 2^50 for a parsed file
        // Kernels address a row as one span, so its bytes (not only its elements) must fit in an int.
        if (rows > int.MaxValue || dims[0] > int.MaxValue || GgmlTypeInfo.RowBytes(tensor.Type, dims[0]) > int.MaxValue)
            throw new GgufFormatException(FilePath, tensor.FileOffset,
                $"tensor '{tensor.Name}' ({tensor.ShapeText}, {tensor.Type}) is too large for a matrix (at most {int.MaxValue} rows of at most {int.MaxValue} bytes).");
        return new WeightMatrix(GetDataPointer(tensor), tensor.Type, (int)rows, (int)dims[0], tensor.Name);
    }

    public WeightMatrix GetMatrix(string name) => GetMatrix(GetTensor(name));

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var part in _parts)
            part.Dispose();
    }
}
