using System.Text;
using Tessera.Engine.Gguf;

namespace Tessera.Engine.Tests.Gguf;

/// <summary>
/// Builds GGUF bytes field by field, remembering where each field starts, so a test can corrupt exactly one
/// field and assert the offset the reader reports.
/// </summary>
internal sealed class GgufBytes
{
    private readonly MemoryStream _stream = new();
    private readonly BinaryWriter _w;

    public GgufBytes() => _w = new BinaryWriter(_stream, Encoding.UTF8, leaveOpen: true);

    public long Position => _stream.Position;

    /// <summary>Magic, version, tensor count, metadata count (24 bytes).</summary>
    public static GgufBytes Header(ulong tensorCount, ulong kvCount, uint version = 3, uint magic = GgufFile.Magic)
    {
        var b = new GgufBytes();
        b.U32(magic).U32(version).U64(tensorCount).U64(kvCount);
        return b;
    }

    public GgufBytes U8(byte v) { _w.Write(v); return this; }

    public GgufBytes U32(uint v) { _w.Write(v); return this; }

    public GgufBytes I32(int v) { _w.Write(v); return this; }

    public GgufBytes U64(ulong v) { _w.Write(v); return this; }

    public GgufBytes Bytes(byte[] v) { _w.Write(v); return this; }

    /// <summary>A GGUF string: uint64 byte length, UTF-8 bytes.</summary>
    public GgufBytes Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        _w.Write((ulong)bytes.Length);
        _w.Write(bytes);
        return this;
    }

    /// <summary>A key and its value type; the value follows.</summary>
    public GgufBytes Key(string key, GgufValueType type) => Str(key).U32((uint)type);

    public GgufBytes KvU32(string key, uint value) => Key(key, GgufValueType.UInt32).U32(value);

    public GgufBytes KvString(string key, string value) => Key(key, GgufValueType.String).Str(value);

    /// <summary>A tensor info: name, n_dims, dims, type, relative data offset.</summary>
    public GgufBytes TensorInfo(string name, long[] dims, uint type, ulong offset)
    {
        Str(name).U32((uint)dims.Length);
        foreach (var d in dims)
            U64((ulong)d);
        return U32(type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public GgufBytes Pad(int alignment = 32)
    {
        while (_stream.Position % alignment != 0)
            _w.Write((byte)0);
        return this;
    }

    public GgufBytes Zeros(int count)
    {
        _w.Write(new byte[count]);
        return this;
    }

    /// <summary>Runs <paramref name="mark"/> with the current position (to remember a field's offset) and continues.</summary>
    public GgufBytes At(out long offset)
    {
        offset = _stream.Position;
        return this;
    }

    public byte[] ToArray()
    {
        _w.Flush();
        return _stream.ToArray();
    }
}

/// <summary>A temporary folder for crafted files, removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tessera-gguf-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        var path = File(name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class GgufAssert
{
    /// <summary>
    /// Opening <paramref name="path"/> must fail with a <see cref="GgufFormatException"/> whose message is
    /// "PATH: at byte OFFSET: PROBLEM" and whose problem contains every fragment (case-insensitive).
    /// </summary>
    public static GgufFormatException OpenFails(string path, long offset, params string[] fragments)
    {
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.Equal(offset, e.Offset);
        Assert.StartsWith(offset >= 0 ? $"{path}: at byte {offset}: " : $"{path}: ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(e.Problem, e.Message, StringComparison.Ordinal);
        foreach (var fragment in fragments)
            Assert.Contains(fragment, e.Problem, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    public static GgufFormatException OpenFails(TempDir dir, byte[] bytes, long offset, params string[] fragments) =>
        OpenFails(dir.Write($"crafted-{Guid.NewGuid():N}.gguf", bytes), offset, fragments);

    /// <summary>
    /// Uses everything an opened file offers, the way a loader would: every metadata value through every typed
    /// getter (wrong-type answers must be <see cref="GgufFormatException"/>) and every tensor's bytes.
    /// </summary>
    public static long Exercise(GgufFile gguf)
    {
        long checksum = gguf.Version + gguf.Alignment + gguf.DataOffset;
        var m = gguf.Metadata;
        foreach (var key in m.Keys)
        {
            checksum += GgufMetadata.Describe(m[key]).Length + (int)m.GetValueType(key);
            Tolerate(() => m.TryGetInteger(key));
            Tolerate(() => m.TryGetFloat(key));
            Tolerate(() => m.TryGetString(key));
            Tolerate(() => m.TryGetBool(key));
            Tolerate(() => m.TryGetArray(key));
            Tolerate(() => m.TryGetStringArray(key));
            Tolerate(() => m.TryGetFloatArray(key));
            Tolerate(() => m.TryGetInt32Array(key));
        }

        Tolerate(() => gguf.Architecture);
        foreach (var t in gguf.Tensors)
        {
            Assert.True(t.FileOffset >= gguf.DataOffset && t.FileOffset + t.ByteSize <= gguf.FileLength);
            Assert.Same(t, gguf.GetTensor(t.Name));
            var span = gguf.GetData(t);
            Assert.Equal(t.ByteSize, span.Length);
            checksum += span[0] + span[^1] + t.ElementCount;
            Tolerate(() => gguf.GetMatrix(t).Rows);
        }

        return checksum;
    }

    private static void Tolerate<T>(Func<T> read)
    {
        try
        {
            read();
        }
        catch (GgufFormatException)
        {
        }
    }
}
