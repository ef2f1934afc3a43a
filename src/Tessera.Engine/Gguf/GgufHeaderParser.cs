using System.Text;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gguf;

/// <summary>
/// Parses and validates a GGUF header from a bounded byte range. Every count and size is checked against
/// the bytes that remain before anything is allocated, so a hostile file cannot cause a huge allocation.
/// </summary>
internal sealed unsafe class GgufHeaderParser
{
    private const int MaxKeyLength = 65535;
    private const int MaxTensorNameLength = 4096;
    private const int MaxArrayDepth = 8;

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

    internal readonly record struct Header(uint Version, GgufMetadata Metadata, List<GgufTensorInfo> Tensors, long DataOffset, uint Alignment);

    public Header Parse()
    {
        var magic = ReadUInt32();
        if (magic != GgufFile.Magic)
            throw Error(0, $"bad magic 0x{magic:X8}: this is not a GGUF file (expected the bytes 'GGUF').");
        var version = ReadUInt32();
        if (version is not (2 or 3))
            throw Error(4, version == 1
                ? "GGUF version 1 is not supported; convert the model again with a current llama.cpp."
                : $"unsupported GGUF version {version} (supported: 2 and 3).");

        var tensorCountOffset = _position;
        var tensorCount = ReadUInt64();
        var kvCountOffset = _position;
        var kvCount = ReadUInt64();
        // Each key/value needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 24.
        if (kvCount > (ulong)(Remaining / 13))
            throw Error(kvCountOffset, $"metadata count {kvCount} is impossible for a file of {_length} bytes.");
        if (tensorCount > (ulong)(Remaining / 24))
            throw Error(tensorCountOffset, $"tensor count {tensorCount} is impossible for a file of {_length} bytes.");

        var metadata = new GgufMetadata(_path);
        for (ulong i = 0; i < kvCount; i++)
        {
            var keyOffset = _position;
            var key = ReadString(MaxKeyLength, "metadata key");
            var typeOffset = _position;
            var type = (GgufValueType)ReadUInt32();
            var value = ReadValue(type, typeOffset, key, 0);
            if (!metadata.TryAdd(key, type, value))
                throw Error(keyOffset, $"metadata key '{key}' appears twice.");
        }

        var alignment = GgufFile.DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out var alignValue))
        {
            if (alignValue is not uint a || a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
                throw Error(-1, $"general.alignment must be a power of two (uint32), found {GgufMetadata.Describe(alignValue)}.");
            alignment = a;
        }

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        var relativeOffsets = new List<(long Offset, long InfoOffset)>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            var infoOffset = _position;
            var name = ReadString(MaxTensorNameLength, "tensor name");
            if (!names.Add(name))
                throw Error(infoOffset, $"tensor '{name}' appears twice.");
            var dimsOffset = _position;
            var dimCount = ReadUInt32();
            if (dimCount is 0 or > GgufFile.MaxDimensions)
                throw Error(dimsOffset, $"tensor '{name}' has {dimCount} dimensions (1 to {GgufFile.MaxDimensions} allowed).");
            var dims = new long[dimCount];
            long elements = 1;
            for (var d = 0; d < dimCount; d++)
            {
                var dim = ReadUInt64();
                if (dim == 0 || dim > 1UL << 40)
                    throw Error(dimsOffset, $"tensor '{name}' has an impossible dimension {dim}.");
                dims[d] = (long)dim;
                if (elements > (1L << 50) / dims[d])
                    throw Error(dimsOffset, $"tensor '{name}' has too many elements ({string.Join(" x ", dims[..(d + 1)])}).");
                elements *= dims[d];
            }

            var typeOffset = _position;
            var typeNumber = ReadUInt32();
            var type = (GgmlType)typeNumber;
            if (!GgmlTypeInfo.IsKnown(type))
                throw Error(typeOffset, $"tensor '{name}' has unknown tensor type {typeNumber}; this file may need a newer version of tessera.");
            var block = GgmlTypeInfo.BlockSize(type);
            if (dims[0] % block != 0)
                throw Error(dimsOffset, $"tensor '{name}' of type {type} has a row of {dims[0]} elements, not a multiple of the block size {block}.");
            var byteSize = elements / block * GgmlTypeInfo.TypeSize(type);
            var offsetPosition = _position;
            var offset = ReadUInt64();
            if (offset > (ulong)_length)
                throw Error(offsetPosition, $"tensor '{name}' data offset {offset} lies outside the file ({_length} bytes).");
            if (offset % alignment != 0)
                throw Error(offsetPosition, $"tensor '{name}' data offset {offset} is not aligned to {alignment} bytes.");
            tensors.Add(new GgufTensorInfo(name, type, dims, (long)offset, byteSize));
            relativeOffsets.Add(((long)offset, offsetPosition));
        }

        var dataOffset = AlignUp(_position, alignment);
        if (tensorCount > 0 && dataOffset > _length)
            throw Error(_position, $"file ends before its tensor data starts (data would start at byte {dataOffset}); the file is truncated.");

        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            var absolute = dataOffset + relativeOffsets[i].Offset;
            if (absolute + t.ByteSize > _length)
                throw Error(relativeOffsets[i].InfoOffset,
                    $"tensor '{t.Name}' ({t.Type}, {t.ShapeText}, {t.ByteSize} bytes at byte {absolute}) extends past the end of the file ({_length} bytes); the file is truncated or corrupt.");
            tensors[i] = t with { FileOffset = absolute };
        }

        return new Header(version, metadata, tensors, dataOffset, alignment);
    }

    private long Remaining => _length - _position;

    private static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private object ReadValue(GgufValueType type, long typeOffset, string key, int depth)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return ReadByte();
            case GgufValueType.Int8: return (sbyte)ReadByte();
            case GgufValueType.UInt16: return Read<ushort>();
            case GgufValueType.Int16: return Read<short>();
            case GgufValueType.UInt32: return ReadUInt32();
            case GgufValueType.Int32: return Read<int>();
            case GgufValueType.Float32: return Read<float>();
            case GgufValueType.Bool:
                var b = ReadByte();
                if (b > 1)
                    throw Error(_position - 1, $"metadata '{key}': boolean byte is {b} (must be 0 or 1).");
                return b == 1;
            case GgufValueType.String: return ReadString(int.MaxValue, $"metadata '{key}' string");
            case GgufValueType.UInt64: return ReadUInt64();
            case GgufValueType.Int64: return Read<long>();
            case GgufValueType.Float64: return Read<double>();
            case GgufValueType.Array: return ReadArray(key, depth);
            default:
                throw Error(typeOffset, $"metadata '{key}' has unknown value type {(uint)type}.");
        }
    }

    private GgufArray ReadArray(string key, int depth)
    {
        if (depth >= MaxArrayDepth)
            throw Error(_position, $"metadata '{key}': arrays nested deeper than {MaxArrayDepth} levels.");
        var typeOffset = _position;
        var elementType = (GgufValueType)ReadUInt32();
        var countOffset = _position;
        var count = ReadUInt64();
        var minSize = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw Error(typeOffset, $"metadata '{key}': array of unknown value type {(uint)elementType}."),
        };
        if (count > (ulong)(Remaining / minSize) || count > int.MaxValue)
            throw Error(countOffset, $"metadata '{key}': array of {count} {elementType} values cannot fit in the {Remaining} bytes left in the file.");
        var n = (int)count;
        switch (elementType)
        {
            case GgufValueType.UInt8: return new GgufArray(elementType, ReadPrimitiveArray<byte>(n));
            case GgufValueType.Int8: return new GgufArray(elementType, ReadPrimitiveArray<sbyte>(n));
            case GgufValueType.UInt16: return new GgufArray(elementType, ReadPrimitiveArray<ushort>(n));
            case GgufValueType.Int16: return new GgufArray(elementType, ReadPrimitiveArray<short>(n));
            case GgufValueType.UInt32: return new GgufArray(elementType, ReadPrimitiveArray<uint>(n));
            case GgufValueType.Int32: return new GgufArray(elementType, ReadPrimitiveArray<int>(n));
            case GgufValueType.Float32: return new GgufArray(elementType, ReadPrimitiveArray<float>(n));
            case GgufValueType.UInt64: return new GgufArray(elementType, ReadPrimitiveArray<ulong>(n));
            case GgufValueType.Int64: return new GgufArray(elementType, ReadPrimitiveArray<long>(n));
            case GgufValueType.Float64: return new GgufArray(elementType, ReadPrimitiveArray<double>(n));
            case GgufValueType.Bool:
            {
                var values = new bool[n];
                for (var i = 0; i < n; i++)
                    values[i] = (bool)ReadValue(GgufValueType.Bool, typeOffset, key, depth);
                return new GgufArray(elementType, values);
            }
            case GgufValueType.String:
            {
                var values = new string[n];
                for (var i = 0; i < n; i++)
                    values[i] = ReadString(int.MaxValue, $"metadata '{key}' string {i}");
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

    private T[] ReadPrimitiveArray<T>(int count) where T : unmanaged
    {
        var bytes = (long)count * sizeof(T);
        Require(bytes, "array");
        var result = new T[count];
        new ReadOnlySpan<byte>(_data + _position, (int)bytes).CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));
        _position += bytes;
        return result;
    }

    private string ReadString(int maxLength, string what)
    {
        var lengthOffset = _position;
        var length = ReadUInt64();
        if (length > (ulong)Remaining)
            throw Error(lengthOffset, $"{what} claims {length} bytes but only {Remaining} remain in the file; the file is truncated or corrupt.");
        if (length > (ulong)maxLength)
            throw Error(lengthOffset, $"{what} is {length} bytes long (at most {maxLength} allowed).");
        var span = new ReadOnlySpan<byte>(_data + _position, (int)length);
        _position += (long)length;
        return Encoding.UTF8.GetString(span);
    }

    private byte ReadByte()
    {
        Require(1, "byte");
        return _data[_position++];
    }

    private uint ReadUInt32() => Read<uint>();

    private ulong ReadUInt64() => Read<ulong>();

    private T Read<T>() where T : unmanaged
    {
        Require(sizeof(T), typeof(T).Name);
        var value = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<T>(_data + _position);
        _position += sizeof(T);
        return value;
    }

    private void Require(long bytes, string what)
    {
        if (bytes > Remaining)
            throw Error(_position, $"file ends while reading a {what} ({bytes} bytes needed, {Remaining} left); the file is truncated.");
    }

    private GgufFormatException Error(long offset, string problem) =>
        offset < 0 ? new GgufFormatException(_path, problem) : new GgufFormatException(_path, offset, problem);
}
