using System.Text;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gguf;

/// <summary>
/// Writes GGUF v3 files: metadata in insertion order, tensor infos, then aligned tensor data streamed from
/// callbacks (so multi-gigabyte synthetic models never sit in memory whole).
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = new();
    private readonly List<PendingTensor> _tensors = new();
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    public GgufWriter(uint alignment = GgufFile.DefaultAlignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(alignment), "Alignment must be a power of two.");
        Alignment = alignment;
        if (alignment != GgufFile.DefaultAlignment)
            Add("general.alignment", alignment);
    }

    public uint Alignment { get; }

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Dimensions, long ByteSize, Action<Stream> WriteData);

    /// <summary>Adds a metadata value; the GGUF type follows the .NET type (uint → UInt32, string → String, ...).</summary>
    public GgufWriter Add(string key, object value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!_keys.Add(key))
            throw new ArgumentException($"Metadata key '{key}' was already added.", nameof(key));
        _metadata.Add((key, TypeOf(value), value));
        return this;
    }

    /// <summary>Adds an array value of the given element type from a typed .NET array.</summary>
    public GgufWriter AddArray(string key, GgufValueType elementType, Array values) => Add(key, new GgufArray(elementType, values));

    /// <summary>Adds a tensor whose bytes are produced by <paramref name="writeData"/> (exactly the tensor's size).</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] dimensions, Action<Stream> writeData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(dimensions);
        ArgumentNullException.ThrowIfNull(writeData);
        if (dimensions.Length is 0 or > GgufFile.MaxDimensions)
            throw new ArgumentException($"Tensor '{name}' has {dimensions.Length} dimensions (1 to {GgufFile.MaxDimensions} allowed).", nameof(dimensions));
        if (!GgmlTypeInfo.IsKnown(type))
            throw new ArgumentException($"Tensor '{name}' has unknown type {(uint)type}.", nameof(type));
        long elements = 1;
        foreach (var d in dimensions)
        {
            if (d <= 0 || d > GgufHeaderParser.MaxDimension || elements > GgufHeaderParser.MaxElements / d)
                throw new ArgumentException($"Tensor '{name}' has an invalid shape {string.Join(" x ", dimensions)}.", nameof(dimensions));
            elements *= d;
        }
        if (_tensorNames.Contains(name))
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        var size = elements / GgmlTypeInfo.BlockSize(type) * GgmlTypeInfo.TypeSize(type);
        GgmlTypeInfo.RowBytes(type, dimensions[0]); // checks whole blocks
        _tensors.Add(new PendingTensor(name, type, (long[])dimensions.Clone(), size, writeData));
        _tensorNames.Add(name);
        return this;
    }

    public GgufWriter AddTensor(string name, GgmlType type, long[] dimensions, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        AddTensor(name, type, dimensions, s => s.Write(data));
        var t = _tensors[^1];
        if (t.ByteSize != data.Length)
        {
            _tensors.RemoveAt(_tensors.Count - 1);
            _tensorNames.Remove(name);
            throw new ArgumentException($"Tensor '{name}' needs {t.ByteSize} bytes, got {data.Length}.");
        }
        return this;
    }

    /// <summary>
    /// Writes the file to <paramref name="path"/> through a temporary file beside it, renamed when complete: if
    /// anything fails, the temporary file is deleted and an existing file at <paramref name="path"/> is untouched.
    /// </summary>
    public void WriteFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var temp = path + ".partial";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Write(stream);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: the original failure is the one to report.
            }
            throw;
        }
    }

    public void Write(Stream stream)
    {
        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, type, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)type);
            WriteValue(w, type, value);
        }

        long offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dimensions.Length);
            foreach (var d in t.Dimensions)
                w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset = AlignUp(offset + t.ByteSize);
        }

        w.Flush();
        Pad(stream);
        foreach (var t in _tensors)
        {
            var start = stream.Position;
            t.WriteData(stream);
            var written = stream.Position - start;
            if (written != t.ByteSize)
                throw new InvalidOperationException($"Tensor '{t.Name}' wrote {written} bytes, expected {t.ByteSize}.");
            Pad(stream);
        }
    }

    private long AlignUp(long value) => (value + Alignment - 1) / Alignment * Alignment;

    private void Pad(Stream stream)
    {
        var pad = AlignUp(stream.Position) - stream.Position;
        for (var i = 0; i < pad; i++)
            stream.WriteByte(0);
    }

    private static GgufValueType TypeOf(object value) => value switch
    {
        byte => GgufValueType.UInt8,
        sbyte => GgufValueType.Int8,
        ushort => GgufValueType.UInt16,
        short => GgufValueType.Int16,
        uint => GgufValueType.UInt32,
        int => GgufValueType.Int32,
        float => GgufValueType.Float32,
        bool => GgufValueType.Bool,
        string => GgufValueType.String,
        ulong => GgufValueType.UInt64,
        long => GgufValueType.Int64,
        double => GgufValueType.Float64,
        GgufArray => GgufValueType.Array,
        _ => throw new ArgumentException($"Type {value.GetType()} cannot be stored in GGUF metadata."),
    };

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write(Convert.ToByte(value)); break;
            case GgufValueType.Int8: w.Write(Convert.ToSByte(value)); break;
            case GgufValueType.UInt16: w.Write(Convert.ToUInt16(value)); break;
            case GgufValueType.Int16: w.Write(Convert.ToInt16(value)); break;
            case GgufValueType.UInt32: w.Write(Convert.ToUInt32(value)); break;
            case GgufValueType.Int32: w.Write(Convert.ToInt32(value)); break;
            case GgufValueType.Float32: w.Write(Convert.ToSingle(value)); break;
            case GgufValueType.Bool: w.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt64: w.Write(Convert.ToUInt64(value)); break;
            case GgufValueType.Int64: w.Write(Convert.ToInt64(value)); break;
            case GgufValueType.Float64: w.Write(Convert.ToDouble(value)); break;
            case GgufValueType.Array:
                var array = (GgufArray)value;
                w.Write((uint)array.ElementType);
                w.Write((ulong)array.Length);
                foreach (var item in array.Values)
                    WriteValue(w, array.ElementType, item!);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type));
        }
    }
}
