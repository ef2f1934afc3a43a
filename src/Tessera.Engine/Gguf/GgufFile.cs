using System.IO.MemoryMappedFiles;
using System.Text;
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

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private byte* _base;

    private GgufFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer, long length,
        uint version, GgufMetadata metadata, List<GgufTensorInfo> tensors, long tensorInfoOffset, long dataOffset, uint alignment)
    {
        FilePath = path;
        _map = map;
        _view = view;
        _base = basePointer;
        FileLength = length;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        TensorInfoOffset = tensorInfoOffset;
        DataOffset = dataOffset;
        Alignment = alignment;
        _tensorsByName = new Dictionary<string, GgufTensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (var t in tensors)
            _tensorsByName[t.Name] = t;
    }

    public string FilePath { get; }

    public long FileLength { get; }

    public uint Version { get; }

    public GgufMetadata Metadata { get; }

    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Absolute file offset where the tensor infos start (just after the metadata).</summary>
    public long TensorInfoOffset { get; }

    /// <summary>Absolute file offset where tensor data starts.</summary>
    public long DataOffset { get; }

    public uint Alignment { get; }

    /// <summary>general.architecture, e.g. "llama".</summary>
    public string Architecture => Metadata.GetString("general.architecture");

    /// <summary>
    /// Opens and validates <paramref name="path"/>. Any problem with the file (missing, a directory, unreadable,
    /// truncated, corrupt, unsupported) is a <see cref="GgufFormatException"/>; nothing else escapes for bad input.
    /// </summary>
    public static GgufFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new GgufFormatException(path, "is a directory, not a GGUF file.");
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new GgufFormatException(path, "file not found.");
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or NotSupportedException or ArgumentException)
        {
            throw new GgufFormatException(path, "cannot be read: " + e.Message);
        }

        long length;
        try
        {
            length = stream.CanSeek ? stream.Length : -1;
        }
        catch (Exception e) when (e is IOException or NotSupportedException)
        {
            length = -1;
        }

        if (length <= 0)
        {
            stream.Dispose();
            throw length == 0
                ? new GgufFormatException(path, 0, "file is empty (0 bytes); the download or copy did not complete.")
                : new GgufFormatException(path, "is not a regular file; a GGUF model must be a file on disk.");
        }

        MemoryMappedFile map;
        MemoryMappedViewAccessor view;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new GgufFormatException(path, "cannot be memory-mapped: " + e.Message);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            map.Dispose();
            throw new GgufFormatException(path, "cannot be memory-mapped: " + e.Message);
        }
        catch
        {
            map.Dispose();
            throw;
        }

        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        pointer += view.PointerOffset;
        try
        {
            var parser = new GgufHeaderParser(path, pointer, length);
            var header = parser.Parse();
            return new GgufFile(path, map, view, pointer, length, header.Version, header.Metadata, header.Tensors,
                header.TensorInfoOffset, header.DataOffset, header.Alignment);
        }
        catch
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
            throw;
        }
    }

    public bool TryGetTensor(string name, out GgufTensorInfo tensor) => _tensorsByName.TryGetValue(name, out tensor!);

    public GgufTensorInfo GetTensor(string name) =>
        _tensorsByName.TryGetValue(name, out var t) ? t : throw new GgufFormatException(FilePath, $"required tensor '{name}' is missing.");

    /// <summary>Pointer to the first byte of a tensor's data inside the memory map; valid until disposal.</summary>
    public nint GetDataPointer(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return (nint)(_base + tensor.FileOffset);
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
        if (_base == null)
            return;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
