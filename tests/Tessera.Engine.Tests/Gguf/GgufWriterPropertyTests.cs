using System.Text;
using Tessera.Engine.Gguf;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Gguf;

/// <summary>Random files through <see cref="GgufWriter"/> read back identically by <see cref="GgufFile"/>.</summary>
public sealed class GgufWriterPropertyTests : IDisposable
{
    private static readonly GgmlType[] TensorTypes =
    {
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K,
        GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.I32, GgmlType.Q2_K, GgmlType.IQ4_NL,
    };

    private static readonly GgufValueType[] ScalarTypes =
    {
        GgufValueType.UInt8, GgufValueType.Int8, GgufValueType.UInt16, GgufValueType.Int16, GgufValueType.UInt32,
        GgufValueType.Int32, GgufValueType.Float32, GgufValueType.Bool, GgufValueType.String, GgufValueType.UInt64,
        GgufValueType.Int64, GgufValueType.Float64,
    };

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(32u)]
    [InlineData(64u)]
    public void RandomFiles_RoundTrip(uint alignment)
    {
        for (var seed = 0; seed < 25; seed++)
        {
            var rng = new Random(seed * 7919 + (int)alignment);
            var writer = new GgufWriter(alignment);
            var expected = new List<(string Key, GgufValueType Type, object Value)>();
            if (alignment != GgufFile.DefaultAlignment)
                expected.Add(("general.alignment", GgufValueType.UInt32, alignment));

            var kvCount = rng.Next(0, 30);
            for (var i = 0; i < kvCount; i++)
            {
                var key = $"k{i}.{RandomString(rng, 12)}";
                var (type, value) = rng.Next(4) == 0 ? (GgufValueType.Array, RandomArray(rng, 1)) : RandomScalar(rng);
                writer.Add(key, value);
                expected.Add((key, type, value));
            }

            var tensors = new List<(string Name, GgmlType Type, long[] Dims, byte[] Data)>();
            var tensorCount = rng.Next(0, 8);
            for (var i = 0; i < tensorCount; i++)
            {
                var type = TensorTypes[rng.Next(TensorTypes.Length)];
                var dims = new long[rng.Next(1, 5)];
                dims[0] = GgmlTypeInfo.BlockSize(type) * rng.Next(1, 4);
                for (var d = 1; d < dims.Length; d++)
                    dims[d] = rng.Next(1, 4);
                var size = dims.Aggregate(1L, (a, b) => a * b) / GgmlTypeInfo.BlockSize(type) * GgmlTypeInfo.TypeSize(type);
                var data = new byte[size];
                rng.NextBytes(data);
                var name = $"blk.{i}.{RandomString(rng, 8)}";
                writer.AddTensor(name, type, dims, data);
                tensors.Add((name, type, dims, data));
            }

            var path = _dir.File($"rt-{alignment}-{seed}.gguf");
            writer.WriteFile(path);
            Assert.False(File.Exists(path + ".partial"));

            using var gguf = GgufFile.Open(path);
            Assert.Equal(3u, gguf.Version);
            Assert.Equal(alignment, gguf.Alignment);
            Assert.Equal(0, gguf.DataOffset % alignment);
            Assert.Equal(expected.Select(e => e.Key), gguf.Metadata.Keys);
            foreach (var (key, type, value) in expected)
            {
                Assert.Equal(type, gguf.Metadata.GetValueType(key));
                AssertSameValue(value, gguf.Metadata[key], $"seed {seed} key {key}");
            }

            Assert.Equal(tensors.Select(t => t.Name), gguf.Tensors.Select(t => t.Name));
            foreach (var (name, type, dims, data) in tensors)
            {
                var t = gguf.GetTensor(name);
                Assert.Equal(type, t.Type);
                Assert.Equal(dims, t.Dimensions);
                Assert.Equal(0, t.FileOffset % alignment);
                Assert.Equal(data, gguf.GetData(t).ToArray());
            }
        }
    }

    [Fact]
    public void WriteFile_WhenATensorFails_LeavesNoPartialFileAndKeepsTheOldOne()
    {
        var path = _dir.File("model.gguf");
        File.WriteAllText(path, "previous contents");

        var throwing = new GgufWriter().Add("general.architecture", "llama")
            .AddTensor("t", GgmlType.F32, new long[] { 1024 }, s =>
            {
                s.Write(new byte[100]);
                throw new IOException("disk full (simulated)");
            });
        Assert.Throws<IOException>(() => throwing.WriteFile(path));
        Assert.False(File.Exists(path + ".partial"));
        Assert.Equal("previous contents", File.ReadAllText(path));

        var shortTensor = new GgufWriter().AddTensor("t", GgmlType.F32, new long[] { 1024 }, s => s.Write(new byte[16]));
        Assert.Throws<InvalidOperationException>(() => shortTensor.WriteFile(path));
        Assert.False(File.Exists(path + ".partial"));
        Assert.Equal("previous contents", File.ReadAllText(path));

        var fresh = _dir.File("fresh.gguf");
        Assert.Throws<InvalidOperationException>(() => shortTensor.WriteFile(fresh));
        Assert.False(File.Exists(fresh));
        Assert.False(File.Exists(fresh + ".partial"));
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Writer_RejectsWhatTheReaderWouldReject()
    {
        var w = new GgufWriter().AddTensor("t", GgmlType.F32, new long[] { 4 }, new byte[16]);
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", GgmlType.F32, new long[] { 4 }, new byte[16]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, Array.Empty<long>(), new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, new long[] { 1, 1, 1, 1, 1 }, new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, new long[] { 0 }, Array.Empty<byte>()));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.Q4_0, new long[] { 33 }, new byte[18]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", (GgmlType)99, new long[] { 4 }, new byte[16]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("u", GgmlType.F32, new long[] { 4 }, new byte[15]));
        // A failed AddTensor leaves nothing behind: "u" can still be added.
        w.AddTensor("u", GgmlType.F32, new long[] { 4 }, new byte[16]);
        Assert.ThrowsAny<ArgumentException>(() => new GgufWriter(48));
    }

    private static (GgufValueType, object) RandomScalar(Random rng)
    {
        var type = ScalarTypes[rng.Next(ScalarTypes.Length)];
        return (type, RandomValue(rng, type));
    }

    private static object RandomValue(Random rng, GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => (byte)rng.Next(256),
        GgufValueType.Int8 => (sbyte)rng.Next(-128, 128),
        GgufValueType.UInt16 => (ushort)rng.Next(65536),
        GgufValueType.Int16 => (short)rng.Next(-32768, 32768),
        GgufValueType.UInt32 => (uint)rng.NextInt64(uint.MaxValue + 1L),
        GgufValueType.Int32 => rng.Next(int.MinValue, int.MaxValue),
        GgufValueType.Float32 => rng.Next(8) == 0 ? float.NaN : (float)(rng.NextDouble() * 2e6 - 1e6),
        GgufValueType.Bool => rng.Next(2) == 1,
        GgufValueType.String => RandomString(rng, 40),
        GgufValueType.UInt64 => (ulong)rng.NextInt64() * 2 + (ulong)rng.Next(2),
        GgufValueType.Int64 => rng.NextInt64(long.MinValue, long.MaxValue),
        GgufValueType.Float64 => rng.Next(8) == 0 ? double.NegativeInfinity : rng.NextDouble() * 1e300,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    private static GgufArray RandomArray(Random rng, int depth)
    {
        var elementType = depth < 3 && rng.Next(5) == 0 ? GgufValueType.Array : ScalarTypes[rng.Next(ScalarTypes.Length)];
        var length = rng.Next(0, 20);
        Array values = elementType switch
        {
            GgufValueType.UInt8 => new byte[length],
            GgufValueType.Int8 => new sbyte[length],
            GgufValueType.UInt16 => new ushort[length],
            GgufValueType.Int16 => new short[length],
            GgufValueType.UInt32 => new uint[length],
            GgufValueType.Int32 => new int[length],
            GgufValueType.Float32 => new float[length],
            GgufValueType.Bool => new bool[length],
            GgufValueType.String => new string[length],
            GgufValueType.UInt64 => new ulong[length],
            GgufValueType.Int64 => new long[length],
            GgufValueType.Float64 => new double[length],
            _ => new GgufArray[length],
        };
        for (var i = 0; i < length; i++)
            values.SetValue(elementType == GgufValueType.Array ? RandomArray(rng, depth + 1) : RandomValue(rng, elementType), i);
        return new GgufArray(elementType, values);
    }

    private static string RandomString(Random rng, int maxLength)
    {
        const string alphabet = "abcxyz_019 .é€😀\u4e2d\n";
        var length = rng.Next(0, maxLength);
        var sb = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            var c = alphabet[rng.Next(alphabet.Length)];
            if (char.IsHighSurrogate(c))
                sb.Append("😀");
            else if (!char.IsLowSurrogate(c))
                sb.Append(c);
        }
        return sb.ToString();
    }

    private static void AssertSameValue(object expected, object actual, string where)
    {
        if (expected is GgufArray ea)
        {
            var aa = Assert.IsType<GgufArray>(actual);
            Assert.Equal(ea.ElementType, aa.ElementType);
            Assert.Equal(ea.Length, aa.Length);
            Assert.Equal(ea.Values.GetType(), aa.Values.GetType());
            for (var i = 0; i < ea.Length; i++)
                AssertSameValue(ea.Values.GetValue(i)!, aa.Values.GetValue(i)!, $"{where}[{i}]");
            return;
        }

        Assert.Equal(expected.GetType(), actual.GetType());
        switch (expected)
        {
            case float f:
                Assert.Equal(BitConverter.SingleToInt32Bits(f), BitConverter.SingleToInt32Bits((float)actual));
                break;
            case double d:
                Assert.Equal(BitConverter.DoubleToInt64Bits(d), BitConverter.DoubleToInt64Bits((double)actual));
                break;
            default:
                Assert.True(expected.Equals(actual), $"{where}: expected {expected}, got {actual}");
                break;
        }
    }
}
