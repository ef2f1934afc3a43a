using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gguf;

/// <summary>
/// Parses and validates a GGUF header from a bounded byte range. Every count and size is checked against
/// the bytes that remain (and against fixed limits) before anything is allocated, so a hostile file cannot
/// cause a huge allocation, an overflow or a read outside the range. Every problem is a
/// <see cref="GgufFormatException"/> whose offset is the first byte of the field that is wrong.
/// </summary>
internal sealed unsafe class GgufHeaderParser
{
    internal const int MaxKeyLength = 65535;
    internal const int MaxTensorNameLength = 4096;

    /// <summary>Longest metadata string (chat templates and embedded tokenizer JSON are far below this).</summary>
    internal const int MaxStringLength = 64 << 20;

    /// <summary>Most elements in one metadata array (the largest vocabularies have a few hundred thousand tokens).</summary>
    internal const int MaxArrayElements = 1 << 24;

    /// <summary>Arrays of arrays may nest this deep (the top-level array is level 1).</summary>
    internal const int MaxArrayDepth = 8;

    /// <summary>Largest single dimension accepted (2^40).</summary>
    internal const long MaxDimension = 1L << 40;

    /// <summary>Largest element count of one tensor (2^50).</summary>
    internal const long MaxElements = 1L << 50;

    /// <summary>Largest general.alignment accepted (1 MiB).</summary>
    internal const uint MaxAlignment = 1u << 20;

    /// <summary>Smallest possible tensor info: name length, n_dims, one dimension, type, offset.</summary>
    private const int MinTensorInfoSize = 8 + 4 + 8 + 4 + 8;

    /// <summary>Smallest possible key/value: key length, type, one byte of value.</summary>
    private const int MinKeyValueSize = 8 + 4 + 1;

    private readonly string _path;
    private readonly byte* _data;
    private readonly long _length;
    private long _position;

    public GgufHeaderParser(string path, byte* data, long length)
    {
        _path = path;
        _data = data;
        _length = length;
    }

    internal readonly record struct Header(
        uint Version, GgufMetadata Metadata, List<GgufTensorInfo> Tensors, long TensorInfoOffset, long DataOffset, uint Alignment);

    public Header Parse()
    {
        if (_length < 4)
            throw Error(0, $"file is {_length} bytes, too short to be a GGUF file (a GGUF file starts with the 4 bytes 'GGUF').");
        var magic = ReadUInt32("magic");
        if (magic != GgufFile.Magic)
            throw Error(0, DescribeBadMagic(magic));
        var version = ReadUInt32("version");
        if (version is not (2 or 3))
        {
            var swapped = BinaryPrimitives.ReverseEndianness(version);
            throw Error(4, version switch
            {
                1 => "GGUF version 1 is not supported (only versions 2 and 3 are); convert the model again with a current llama.cpp.",
                _ when swapped is 2 or 3 => $"this is a big-endian GGUF file (version {swapped} byte-swapped); Tessera reads little-endian GGUF files only.",
                _ => $"unsupported GGUF version {version} (supported: 2 and 3); the file is corrupt or was written by a newer tool.",
            });
        }

        var tensorCountOffset = _position;
        var tensorCount = ReadUInt64("tensor count");
        var kvCountOffset = _position;
        var kvCount = ReadUInt64("metadata count");
        if (tensorCount > (ulong)(Remaining / MinTensorInfoSize))
            throw Error(tensorCountOffset, $"tensor count {tensorCount} is impossible for a file of {_length} bytes (each tensor needs at least {MinTensorInfoSize}); the file is truncated or corrupt.");
        if (kvCount > (ulong)(Remaining / MinKeyValueSize))
            throw Error(kvCountOffset, $"metadata count {kvCount} is impossible for a file of {_length} bytes (each key/value needs at least {MinKeyValueSize}); the file is truncated or corrupt.");

        var metadata = new GgufMetadata(_path);
        for (ulong i = 0; i < kvCount; i++)
        {
            var keyOffset = _position;
            var key = ReadString(MaxKeyLength, "metadata key");
            var typeOffset = _position;
            var type = (GgufValueType)ReadUInt32($"type of metadata {Show(key)}");
            var valueOffset = _position;
            var value = ReadValue(type, typeOffset, key);
            if (!metadata.TryAdd(key, type, value, valueOffset))
                throw Error(keyOffset, $"metadata key {Show(key)} appears twice.");
        }

        var alignment = GgufFile.DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out var alignValue))
        {
            var at = metadata.GetValueOffset("general.alignment");
            if (alignValue is not uint a)
                throw Error(at, $"general.alignment must be a uint32, found {metadata.GetValueType("general.alignment")} {GgufMetadata.Describe(alignValue)}.");
            if (a == 0 || (a & (a - 1)) != 0)
                throw Error(at, $"general.alignment must be a power of two, found {a}.");
            if (a > MaxAlignment)
                throw Error(at, $"general.alignment {a} is larger than the {MaxAlignment} bytes Tessera accepts.");
            alignment = a;
        }

        var tensorInfoOffset = _position;
        // Not trusted for preallocation: a lying count fails at the end of the file, never with a huge allocation.
        var capacity = (int)Math.Min(tensorCount, 4096);
        var tensors = new List<GgufTensorInfo>(capacity);
        var infos = new List<(ulong RelativeOffset, long FieldOffset)>(capacity);
        var names = new HashSet<string>(capacity, StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            var infoOffset = _position;
            var name = ReadString(MaxTensorNameLength, "name of tensor", (int)Math.Min(i, int.MaxValue));
            var shown = Show(name);
            if (!names.Add(name))
                throw Error(infoOffset, $"tensor {shown} appears twice.");
            var dimCountOffset = _position;
            var dimCount = ReadUInt32($"dimension count of tensor {shown}");
            if (dimCount is 0 or > GgufFile.MaxDimensions)
                throw Error(dimCountOffset, $"tensor {shown} has {dimCount} dimensions (1 to {GgufFile.MaxDimensions} allowed).");
            var firstDimOffset = _position;
            var dims = new long[dimCount];
            long elements = 1;
            for (var d = 0; d < dimCount; d++)
            {
                var dimOffset = _position;
                var dim = ReadUInt64($"dimension {d} of tensor {shown}");
                if (dim == 0 || dim > MaxDimension)
                    throw Error(dimOffset, $"tensor {shown} has an impossible dimension {d} of {dim} (1 to {MaxDimension} allowed).");
                dims[d] = (long)dim;
                if (elements > MaxElements / dims[d])
                    throw Error(dimOffset, $"tensor {shown} has too many elements ({string.Join(" x ", dims[..(d + 1)])} is over {MaxElements}).");
                elements *= dims[d];
            }

            var typeOffset = _position;
            var typeNumber = ReadUInt32($"type of tensor {shown}");
            var type = (GgmlType)typeNumber;
            if (!GgmlTypeInfo.IsKnown(type))
                throw Error(typeOffset, $"tensor {shown} has unknown tensor type {typeNumber}; the file is corrupt or needs a newer version of Tessera.");
            var block = GgmlTypeInfo.BlockSize(type);
            if (dims[0] % block != 0)
                throw Error(firstDimOffset, $"tensor {shown} of type {type} has rows of {dims[0]} elements, not a multiple of the block size {block}.");
            var byteSize = elements / block * GgmlTypeInfo.TypeSize(type);
            var offsetPosition = _position;
            var offset = ReadUInt64($"data offset of tensor {shown}");
            if (offset % alignment != 0)
                throw Error(offsetPosition, $"tensor {shown} data offset {offset} is not aligned to {alignment} bytes.");
            // Offsets past the end are reported after all infos are read, in info order, so a truncated file
            // names the first tensor it cuts short rather than whichever info comes first.
            tensors.Add(new GgufTensorInfo(name, type, dims, 0, byteSize));
            infos.Add((offset, offsetPosition));
        }

        var dataOffset = AlignUp(_position, alignment);
        if (tensorCount > 0 && dataOffset > _length)
            throw Error(_position, $"file ends before its tensor data starts (data would start at byte {dataOffset}, the file has {_length} bytes); the file is truncated.");

        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            var (relative, field) = infos[i];
            // relative <= _length keeps the sum below 2^63 (sizes are at most 2^59).
            if (relative > (ulong)_length || dataOffset + (long)relative + t.ByteSize > _length)
            {
                var where = relative > (ulong)_length ? $"data offset {relative}" : $"byte {dataOffset + (long)relative}";
                throw Error(field,
                    $"tensor {Show(t.Name)} ({t.Type}, {t.ShapeText}, {t.ByteSize} bytes at {where}) extends past the end of the file ({_length} bytes); the file is truncated or corrupt.");
            }
            tensors[i] = t with { FileOffset = dataOffset + (long)relative };
        }

        return new Header(version, metadata, tensors, tensorInfoOffset, dataOffset, alignment);
    }

    private long Remaining => _length - _position;

    private static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private string DescribeBadMagic(uint magic)
    {
        var head = new ReadOnlySpan<byte>(_data, (int)Math.Min(_length, 64));
        if (head.StartsWith("version https://git-lfs"u8))
            return "this is a Git LFS pointer file, not the model itself; fetch the real file (git lfs pull) or download it again.";
        var trimmed = head.TrimStart(" \t\r\n"u8);
        if (trimmed.StartsWith("<"u8))
            return "this looks like an HTML page, not a GGUF file; the download probably failed (check the URL, log in if the model is gated) and download it again.";
        if (trimmed.StartsWith("{"u8))
            return "this looks like a JSON file, not a GGUF file.";
        return magic switch
        {
            0x67676d6c or 0x67676d66 or 0x67676a74 or 0x67676c61 =>
                $"this is an old GGML-family file (magic 0x{magic:X8}), not GGUF; convert the original model again with a current llama.cpp.",
            _ => $"bad magic 0x{magic:X8}: this is not a GGUF file (a GGUF file starts with the bytes 'GGUF').",
        };
    }

    private object ReadValue(GgufValueType type, long typeOffset, string key)
    {
        var what = type is GgufValueType.String or GgufValueType.Array ? key : $"value of metadata {Show(key)}";
        switch (type)
        {
            case GgufValueType.UInt8: return ReadByte(what);
            case GgufValueType.Int8: return (sbyte)ReadByte(what);
            case GgufValueType.UInt16: return Read<ushort>(what);
            case GgufValueType.Int16: return Read<short>(what);
            case GgufValueType.UInt32: return Read<uint>(what);
            case GgufValueType.Int32: return Read<int>(what);
            case GgufValueType.Float32: return Read<float>(what);
            case GgufValueType.Bool: return ReadBool(what);
            case GgufValueType.String: return ReadString(MaxStringLength, $"metadata {Show(key)} string");
            case GgufValueType.UInt64: return Read<ulong>(what);
            case GgufValueType.Int64: return Read<long>(what);
            case GgufValueType.Float64: return Read<double>(what);
            case GgufValueType.Array: return ReadArray(key, 1);
            default:
                throw Error(typeOffset, $"metadata {Show(key)} has unknown value type {(uint)type} (known types are 0 to 12); the file is corrupt.");
        }
    }

    private bool ReadBool(string what)
    {
        var b = ReadByte(what);
        if (b > 1)
            throw Error(_position - 1, $"{what}: boolean byte is {b} (must be 0 or 1).");
        return b == 1;
    }

    private GgufArray ReadArray(string key, int depth)
    {
        var typeOffset = _position;
        if (depth > MaxArrayDepth)
            throw Error(typeOffset, $"metadata {Show(key)}: arrays nested more than {MaxArrayDepth} levels deep.");
        var elementType = (GgufValueType)ReadUInt32($"array element type of metadata {Show(key)}");
        var countOffset = _position;
        var count = ReadUInt64($"array length of metadata {Show(key)}");
        var minSize = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw Error(typeOffset, $"metadata {Show(key)}: array of unknown value type {(uint)elementType} (known types are 0 to 12); the file is corrupt."),
        };
        if (count > (ulong)(Remaining / minSize))
            throw Error(countOffset, $"metadata {Show(key)}: array of {count} {elementType} values cannot fit in the {Remaining} bytes left in the file; the file is truncated or corrupt.");
        if (count > MaxArrayElements)
            throw Error(countOffset, $"metadata {Show(key)}: array of {count} values is longer than the {MaxArrayElements} Tessera accepts.");
        var n = (int)count;
        switch (elementType)
        {
            case GgufValueType.UInt8: return new GgufArray(elementType, ReadPrimitiveArray<byte>(n, key));
            case GgufValueType.Int8: return new GgufArray(elementType, ReadPrimitiveArray<sbyte>(n, key));
            case GgufValueType.UInt16: return new GgufArray(elementType, ReadPrimitiveArray<ushort>(n, key));
            case GgufValueType.Int16: return new GgufArray(elementType, ReadPrimitiveArray<short>(n, key));
            case GgufValueType.UInt32: return new GgufArray(elementType, ReadPrimitiveArray<uint>(n, key));
            case GgufValueType.Int32: return new GgufArray(elementType, ReadPrimitiveArray<int>(n, key));
            case GgufValueType.Float32: return new GgufArray(elementType, ReadPrimitiveArray<float>(n, key));
            case GgufValueType.UInt64: return new GgufArray(elementType, ReadPrimitiveArray<ulong>(n, key));
            case GgufValueType.Int64: return new GgufArray(elementType, ReadPrimitiveArray<long>(n, key));
            case GgufValueType.Float64: return new GgufArray(elementType, ReadPrimitiveArray<double>(n, key));
            case GgufValueType.Bool:
            {
                var values = new bool[n];
                var what = $"array of metadata {Show(key)}";
                for (var i = 0; i < n; i++)
                    values[i] = ReadBool(what);
                return new GgufArray(elementType, values);
            }
            case GgufValueType.String:
            {
                var values = new string[n];
                var what = $"metadata {Show(key)} string";
                for (var i = 0; i < n; i++)
                    values[i] = ReadString(MaxStringLength, what, i);
                return new GgufArray(elementType, values);
            }
            default:
            {
                var values = new GgufArray[n];
                for (var i = 0; i < n; i++)
                    values[i] = ReadArray(key, depth + 1);
                return new GgufArray(elementType, values);
            }
        }
    }

    private T[] ReadPrimitiveArray<T>(int count, string key) where T : unmanaged
    {
        var bytes = (long)count * sizeof(T);
        Require(bytes, $"array of metadata {Show(key)}");
        var result = new T[count];
        new ReadOnlySpan<byte>(_data + _position, (int)bytes).CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        _position += bytes;
        return result;
    }

    /// <summary>Reads a GGUF string; <paramref name="index"/> (when not -1) is appended to <paramref name="what"/> in messages only.</summary>
    private string ReadString(int maxLength, string what, int index = -1)
    {
        var lengthOffset = _position;
        if (Remaining < sizeof(ulong))
            throw Error(_position, $"file ends while reading the length of {Name(what, index)} (8 bytes needed, {Remaining} left); the file is truncated.");
        var length = Unsafe.ReadUnaligned<ulong>(_data + _position);
        _position += sizeof(ulong);
        if (length > (ulong)Remaining)
            throw Error(lengthOffset, $"{Name(what, index)} claims {length} bytes but only {Remaining} remain in the file; the file is truncated or corrupt.");
        if (length > (ulong)maxLength)
            throw Error(lengthOffset, $"{Name(what, index)} is {length} bytes long (at most {maxLength} allowed).");
        var text = DecodeUtf8(_data + _position, (int)length);
        _position += (long)length;
        return text;
    }

    private static string Name(string what, int index) => index < 0 ? what : $"{what} {index}";

    /// <summary>
    /// UTF-8 to a string; invalid sequences become U+FFFD (llama.cpp does not check them, so real vocabularies
    /// may have some) rather than failing. Encoding.UTF8.GetString is not used for invalid input: its fallback
    /// allocates for every invalid sequence, which on a corrupt length that swallows megabytes of weights
    /// means hundreds of megabytes of garbage. Counted first, then decoded straight into the string.
    /// </summary>
    private static string DecodeUtf8(byte* data, int length)
    {
        var bytes = new ReadOnlySpan<byte>(data, length);
        if (Utf8.IsValid(bytes))
            return Encoding.UTF8.GetString(bytes);
        var count = 0;
        Span<char> scratch = stackalloc char[1024];
        var rest = bytes;
        while (!rest.IsEmpty)
        {
            Utf8.ToUtf16(rest, scratch, out var read, out var written, replaceInvalidSequences: true, isFinalBlock: true);
            count += written;
            rest = rest[read..];
        }

        return string.Create(count, ((nint)data, length), static (chars, state) =>
            Utf8.ToUtf16(new ReadOnlySpan<byte>((void*)state.Item1, state.length), chars, out _, out _, replaceInvalidSequences: true, isFinalBlock: true));
    }

    private byte ReadByte(string what)
    {
        Require(1, what);
        return _data[_position++];
    }

    private uint ReadUInt32(string what) => Read<uint>(what);

    private ulong ReadUInt64(string what) => Read<ulong>(what);

    private T Read<T>(string what) where T : unmanaged
    {
        Require(sizeof(T), what);
        var value = Unsafe.ReadUnaligned<T>(_data + _position);
        _position += sizeof(T);
        return value;
    }

    private void Require(long bytes, string what)
    {
        if (bytes > Remaining)
            throw Error(_position, $"file ends while reading the {what} ({bytes} bytes needed, {Remaining} left); the file is truncated.");
    }

    /// <summary>A key or tensor name for a message: quoted, control characters escaped, long ones cut short.</summary>
    internal static string Show(string name)
    {
        const int maxShown = 80;
        var sb = new StringBuilder(Math.Min(name.Length, maxShown) + 8);
        sb.Append('\'');
        foreach (var c in name)
        {
            if (sb.Length > maxShown)
            {
                sb.Append('…');
                break;
            }

            if (char.IsControl(c))
                sb.Append(c <= 0xFF ? $"\\x{(int)c:X2}" : $"\\u{(int)c:X4}");
            else
                sb.Append(c);
        }

        return sb.Append('\'').ToString();
    }

    private GgufFormatException Error(long offset, string problem) => new(_path, offset, problem);
}
