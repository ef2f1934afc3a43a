using Tessera.Engine.Gguf;
using Tessera.Testing;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Gguf;

/// <summary>
/// Crafted corrupt, truncated and hostile files: each must fail with a <see cref="GgufFormatException"/>
/// naming the file, the offset of the field that is wrong, and the problem.
/// </summary>
public sealed class GgufHostileFileTests : IDisposable
{
    private const uint F32 = (uint)GgmlType.F32;
    private const uint Q4_0 = (uint)GgmlType.Q4_0;

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A valid file with one metadata key and one F32 tensor [8] (32 bytes of data).</summary>
    private static byte[] ValidFile() =>
        GgufBytes.Header(1, 1).KvString("general.architecture", "llama")
            .TensorInfo("t", new long[] { 8 }, F32, 0).Pad().Zeros(32).ToArray();

    [Fact]
    public void CraftedValidFile_Opens()
    {
        using var gguf = GgufFile.Open(_dir.Write("ok.gguf", ValidFile()));
        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal(32, gguf.GetData(gguf.GetTensor("t")).Length);
    }

    [Fact]
    public void BadMagic_ReportsByteZero()
    {
        var bytes = GgufBytes.Header(0, 0, magic: 0x4C4D4747 /* "GGML" */).ToArray();
        GgufAssert.OpenFails(_dir, bytes, 0, "bad magic 0x4C4D4747", "not a GGUF file");
    }

    [Theory]
    [InlineData("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "Git LFS pointer")]
    [InlineData("<!DOCTYPE html><html><body>Access denied</body></html>", "HTML page")]
    [InlineData("{\"error\": \"not found\", \"padding\": \"...............\"}", "JSON")]
    public void BadMagic_RecognisesCommonMistakes(string content, string hint) =>
        GgufAssert.OpenFails(_dir, System.Text.Encoding.UTF8.GetBytes(content), 0, hint);

    [Fact]
    public void OldGgjtFile_SaysToConvertAgain()
    {
        var bytes = new GgufBytes().U32(0x67676a74).U32(3).Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, 0, "old GGML-family file", "llama.cpp");
    }

    [Theory]
    [InlineData(1u, "version 1 is not supported")]
    [InlineData(4u, "unsupported GGUF version 4")]
    [InlineData(0u, "unsupported GGUF version 0")]
    [InlineData(0x03000000u, "big-endian")]
    public void UnsupportedVersion_ReportsByteFour(uint version, string problem) =>
        GgufAssert.OpenFails(_dir, GgufBytes.Header(0, 0, version).Zeros(64).ToArray(), 4, problem);

    [Fact]
    public void Version2_IsAccepted()
    {
        var bytes = GgufBytes.Header(0, 1, version: 2).KvString("general.architecture", "llama").ToArray();
        using var gguf = GgufFile.Open(_dir.Write("v2.gguf", bytes));
        Assert.Equal(2u, gguf.Version);
    }

    [Fact]
    public void AbsurdTensorCount_ReportsByteEight() =>
        GgufAssert.OpenFails(_dir, GgufBytes.Header(1UL << 63, 0).Zeros(100).ToArray(), 8, "tensor count 9223372036854775808 is impossible");

    [Fact]
    public void AbsurdMetadataCount_ReportsByteSixteen() =>
        GgufAssert.OpenFails(_dir, GgufBytes.Header(0, 1UL << 63).Zeros(100).ToArray(), 16, "metadata count 9223372036854775808 is impossible");

    [Fact]
    public void TensorCountLargerThanTheInfos_FailsAtTheEndOfTheFile_WithoutAHugeAllocation()
    {
        // 1000 claimed tensors fit the 24-byte-per-info estimate of the whole file, but only one is there.
        var filler = Enumerable.Repeat((byte)0xFF, 32_000).ToArray();
        var bytes = GgufBytes.Header(1000, 0).TensorInfo("t", new long[] { 8 }, F32, 0).Bytes(filler).ToArray();
        GgufAssert.OpenFails(_dir, bytes, 24 + 8 + 1 + 4 + 8 + 4 + 8, "name of tensor 1 claims 18446744073709551615 bytes");
    }

    [Fact]
    public void KeyLengthPastEndOfFile_ReportsTheLengthField() =>
        GgufAssert.OpenFails(_dir, GgufBytes.Header(0, 1).U64(1000).Zeros(20).ToArray(), 24, "metadata key claims 1000 bytes", "truncated");

    [Fact]
    public void StringValueLengthPastEndOfFile_ReportsTheLengthField()
    {
        var bytes = GgufBytes.Header(0, 1).Key("general.name", GgufValueType.String).At(out var at).U64(ulong.MaxValue).Zeros(8).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "metadata 'general.name' string claims 18446744073709551615 bytes");
    }

    [Fact]
    public void AbsurdArrayCount_ReportsTheCountField()
    {
        var bytes = GgufBytes.Header(0, 1).Key("tokenizer.ggml.tokens", GgufValueType.Array).U32((uint)GgufValueType.String)
            .At(out var at).U64(1UL << 63).Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "metadata 'tokenizer.ggml.tokens'", "array of 9223372036854775808 String values cannot fit");
    }

    [Fact]
    public void UnknownMetadataValueType_ReportsTheTypeField()
    {
        var bytes = GgufBytes.Header(0, 1).Str("k").At(out var at).U32(13).Zeros(16).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "metadata 'k' has unknown value type 13");
    }

    [Fact]
    public void UnknownArrayElementType_ReportsTheElementTypeField()
    {
        var bytes = GgufBytes.Header(0, 1).Key("k", GgufValueType.Array).At(out var at).U32(0xDEAD).U64(1).Zeros(16).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "metadata 'k': array of unknown value type 57005");
    }

    [Fact]
    public void NestedArrays_UpToTheLimit_Open_OneDeeper_Fails()
    {
        static byte[] Nested(int depth, out long deepest)
        {
            var b = GgufBytes.Header(0, 1).Key("nest", GgufValueType.Array);
            deepest = -1;
            for (var level = 1; level < depth; level++)
                b.At(out deepest).U32((uint)GgufValueType.Array).U64(1);
            b.At(out deepest).U32((uint)GgufValueType.Int32).U64(1).I32(42);
            return b.ToArray();
        }

        using (var gguf = GgufFile.Open(_dir.Write("deep8.gguf", Nested(8, out _))))
        {
            var a = gguf.Metadata.GetArray("nest");
            for (var level = 1; level < 8; level++)
                a = ((GgufArray[])a.Values)[0];
            Assert.Equal(new[] { 42 }, a.Values);
        }

        GgufAssert.OpenFails(_dir, Nested(9, out var ninth), ninth, "metadata 'nest': arrays nested more than 8 levels deep");
        GgufAssert.OpenFails(_dir, Nested(10_000, out _), 24 + 8 + 4 + 4 + 8 * 12, "nested more than 8 levels");
    }

    [Fact]
    public void BoolByteTwo_ReportsTheByte()
    {
        var bytes = GgufBytes.Header(0, 1).Key("flag", GgufValueType.Bool).At(out var at).U8(2).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "metadata 'flag'", "boolean byte is 2");
    }

    [Fact]
    public void BoolByteTwo_InsideAnArray_ReportsTheByte()
    {
        var bytes = GgufBytes.Header(0, 1).Key("flags", GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(3)
            .U8(1).U8(0).At(out var at).U8(2).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "metadata 'flags'", "boolean byte is 2");
    }

    [Fact]
    public void DuplicateKey_ReportsTheSecondKey()
    {
        var bytes = GgufBytes.Header(0, 2).KvU32("llama.block_count", 4).At(out var at).KvU32("llama.block_count", 5).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "metadata key 'llama.block_count' appears twice");
    }

    [Fact]
    public void DuplicateTensorName_ReportsTheSecondInfo()
    {
        var bytes = GgufBytes.Header(2, 0).TensorInfo("w", new long[] { 8 }, F32, 0)
            .At(out var at).TensorInfo("w", new long[] { 8 }, F32, 32).Pad().Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "tensor 'w' appears twice");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(uint.MaxValue)]
    public void DimensionCountOutOfRange_ReportsTheCountField(uint dimCount)
    {
        var bytes = GgufBytes.Header(1, 0).Str("w").At(out var at).U32(dimCount).Zeros(128).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, $"tensor 'w' has {dimCount} dimensions (1 to 4 allowed)");
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData((1UL << 40) + 1)]
    [InlineData(ulong.MaxValue)]
    public void ImpossibleDimension_ReportsThatDimension(ulong dim)
    {
        var bytes = GgufBytes.Header(1, 0).Str("w").U32(2).U64(32).At(out var at).U64(dim).U32(F32).U64(0).Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, $"tensor 'w' has an impossible dimension 1 of {dim}");
    }

    [Fact]
    public void ElementCountOverflow_ReportsTheDimensionThatOverflows()
    {
        // Each dimension is allowed on its own; their product (2^80) is not (a naive product wraps to 0 in 64 bits).
        var bytes = GgufBytes.Header(1, 0).Str("w").U32(4).U64(1UL << 20).U64(1UL << 20).At(out var at).U64(1UL << 40).U64(1)
            .U32(F32).U64(0).Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "tensor 'w' has too many elements (1048576 x 1048576 x 1099511627776");
    }

    [Theory]
    [InlineData(new long[] { 1L << 40, 1L << 40 })] // 2^80
    [InlineData(new long[] { 1L << 32, 1L << 32 })] // 2^64: wraps to exactly 0 in 64 bits
    [InlineData(new long[] { 1L << 21, 1L << 21, 1L << 21, 1L << 21 })] // 2^84
    [InlineData(new long[] { 5, 1L << 40, 1L << 22 })] // 5 x 2^62: wraps to 2^62, a plausible positive count
    public void ElementCountThatWouldWrap_IsRefused_NeverRead(long[] dims)
    {
        var bytes = GgufBytes.Header(1, 0).TensorInfo("w", dims, F32, 0).Pad().Zeros(64).ToArray();
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(_dir.Write($"wrap-{Guid.NewGuid():N}.gguf", bytes)).Dispose());
        Assert.Contains("tensor 'w' has too many elements", e.Problem);
    }

    [Theory]
    [InlineData(ulong.MaxValue - 31)] // negative as a long; offset + size wraps
    [InlineData(1UL << 63)] // long.MinValue as a long
    [InlineData((ulong)long.MaxValue - 31)] // offset + size overflows a long
    public void OffsetThatWouldWrap_IsReportedAsPastTheEnd(ulong offset)
    {
        var bytes = GgufBytes.Header(1, 0).Str("w").U32(1).U64(8).U32(F32).At(out var at).U64(offset).Pad().Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, $"data offset {offset}) extends past the end of the file");
    }

    [Theory]
    [InlineData(99u)]
    [InlineData(4u)] // removed Q4_2
    [InlineData(uint.MaxValue)]
    public void UnknownTensorType_ReportsTheTypeField(uint type)
    {
        var bytes = GgufBytes.Header(1, 0).Str("w").U32(1).U64(32).At(out var at).U32(type).U64(0).Pad().Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, $"tensor 'w' has unknown tensor type {type}");
    }

    [Fact]
    public void RowNotAMultipleOfTheBlockSize_ReportsTheFirstDimension()
    {
        var bytes = GgufBytes.Header(1, 0).Str("w").U32(2).At(out var at).U64(33).U64(2).U32(Q4_0).U64(0).Pad().Zeros(128).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "tensor 'w' of type Q4_0 has rows of 33 elements, not a multiple of the block size 32");
    }

    [Fact]
    public void MisalignedOffset_ReportsTheOffsetField()
    {
        var bytes = GgufBytes.Header(2, 0).TensorInfo("a", new long[] { 4 }, F32, 0)
            .Str("b").U32(1).U64(4).U32(F32).At(out var at).U64(16).Pad().Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "tensor 'b' data offset 16 is not aligned to 32 bytes");
    }

    [Fact]
    public void OffsetOutsideTheFile_ReportsTheOffsetField()
    {
        var bytes = GgufBytes.Header(1, 0).Str("w").U32(1).U64(8).U32(F32).At(out var at).U64(1UL << 62).Pad().Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "tensor 'w' (F32, 8, 32 bytes at data offset 4611686018427387904) extends past the end of the file");
    }

    [Fact]
    public void TensorDataPastTheEnd_ReportsTheTensorsOffsetField()
    {
        // A 256 x 256 F32 tensor needs 256 KiB; the file has 64 bytes of data.
        var bytes = GgufBytes.Header(1, 0).Str("w").U32(2).U64(256).U64(256).U32(F32).At(out var at).U64(0).Pad().Zeros(64).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "tensor 'w' (F32, 256 x 256, 262144 bytes at byte", "extends past the end of the file", "truncated");
    }

    [Fact]
    public void FileEndsBeforeTheDataSection_ReportsWhereTheInfosEnd()
    {
        var b = GgufBytes.Header(1, 0).TensorInfo("w", new long[] { 8 }, F32, 0);
        var end = b.Position;
        Assert.NotEqual(0, end % 32);
        GgufAssert.OpenFails(_dir, b.ToArray(), end, "file ends before its tensor data starts", "truncated");
    }

    [Theory]
    [InlineData(48u, "must be a power of two, found 48")]
    [InlineData(0u, "must be a power of two, found 0")]
    [InlineData(1u << 30, "larger than the")]
    public void AlignmentNotAPowerOfTwo_ReportsTheValue(uint alignment, string problem)
    {
        var bytes = GgufBytes.Header(0, 1).Key("general.alignment", GgufValueType.UInt32).At(out var at).U32(alignment).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "general.alignment", problem);
    }

    [Fact]
    public void AlignmentOfTheWrongType_ReportsTheValue()
    {
        var asInt = GgufBytes.Header(0, 1).Key("general.alignment", GgufValueType.Int32).At(out var at).I32(32).ToArray();
        GgufAssert.OpenFails(_dir, asInt, at, "general.alignment must be a uint32, found Int32 32");
        var asString = GgufBytes.Header(0, 1).Key("general.alignment", GgufValueType.String).At(out var at2).Str("32").ToArray();
        GgufAssert.OpenFails(_dir, asString, at2, "general.alignment must be a uint32, found String 32");
    }

    [Fact]
    public void Alignment64_IsUsedForOffsetsAndTheDataSection()
    {
        var bytes = GgufBytes.Header(1, 1).KvU32("general.alignment", 64).Str("w").U32(1).U64(4).U32(F32).At(out var at).U64(32)
            .Pad(64).Zeros(128).ToArray();
        GgufAssert.OpenFails(_dir, bytes, at, "not aligned to 64 bytes");
    }

    [Fact]
    public void EmptyFile_ReportsByteZero() => GgufAssert.OpenFails(_dir, Array.Empty<byte>(), 0, "file is empty");

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void FileShorterThanTheMagic_ReportsByteZero(int length) =>
        GgufAssert.OpenFails(_dir, "GGUF"u8.ToArray()[..length], 0, $"file is {length} bytes, too short");

    [Theory]
    [InlineData(6, 4, "version")]
    [InlineData(10, 8, "tensor count")]
    [InlineData(20, 16, "metadata count")]
    public void TruncatedInsideTheHeader_ReportsTheFieldThatIsCutShort(int length, long offset, string field)
    {
        var bytes = GgufBytes.Header(0, 0).ToArray()[..length];
        GgufAssert.OpenFails(_dir, bytes, offset, $"file ends while reading the {field}", "truncated");
    }

    [Fact]
    public void Directory_IsReportedAsADirectory()
    {
        var e = GgufAssert.OpenFails(_dir.Path, -1, "is a directory");
        Assert.Equal($"{_dir.Path}: is a directory, not a GGUF file.", e.Message);
    }

    [Fact]
    public void MissingFile_IsReportedAsNotFound()
    {
        var path = _dir.File("no-such-model.gguf");
        var e = GgufAssert.OpenFails(path, -1, "file not found");
        Assert.Equal($"{path}: file not found.", e.Message);
        GgufAssert.OpenFails(Path.Combine(_dir.Path, "no-such-folder", "m.gguf"), -1, "file not found");
    }

    [Fact]
    public void MissingRequiredKey_ThroughGgufMetadata_NamesTheFileAndTheKey()
    {
        var path = _dir.Write("meta.gguf", GgufBytes.Header(0, 2).KvString("general.name", "x").KvU32("llama.block_count", 4).ToArray());
        using var gguf = GgufFile.Open(path);
        var m = gguf.Metadata;

        var missing = Assert.Throws<GgufFormatException>(() => gguf.Architecture);
        Assert.Equal(path, missing.FilePath);
        Assert.Equal(-1, missing.Offset);
        Assert.Equal($"{path}: required metadata key 'general.architecture' (a string) is missing; the file is incomplete or not a supported model.", missing.Message);
        Assert.Contains("'llama.embedding_length'", Assert.Throws<GgufFormatException>(() => m.GetInteger("llama.embedding_length")).Message);
        Assert.Contains("'x.eps'", Assert.Throws<GgufFormatException>(() => m.GetFloat("x.eps")).Message);
        Assert.Contains("'x.flag'", Assert.Throws<GgufFormatException>(() => m.GetBool("x.flag")).Message);
        Assert.Contains("'x.list'", Assert.Throws<GgufFormatException>(() => m.GetArray("x.list")).Message);
        Assert.Contains("'x.any'", Assert.Throws<GgufFormatException>(() => m["x.any"]).Message);
        Assert.Contains("'x.any'", Assert.Throws<GgufFormatException>(() => m.GetValueType("x.any")).Message);
        Assert.Null(m.TryGetString("general.architecture"));
    }

    [Fact]
    public void WrongTypeThroughGgufMetadata_NamesTheFileTheValueOffsetAndTheTypes()
    {
        var b = GgufBytes.Header(0, 3).Key("general.architecture", GgufValueType.UInt32).At(out var archAt).U32(7)
            .Key("big", GgufValueType.Array).At(out var bigAt).U32((uint)GgufValueType.UInt64).U64(2).U64(1).U64(ulong.MaxValue)
            .Key("words", GgufValueType.Array).At(out var wordsAt).U32((uint)GgufValueType.String).U64(1).Str("abc");
        var path = _dir.Write("types.gguf", b.ToArray());
        using var gguf = GgufFile.Open(path);
        var m = gguf.Metadata;

        var arch = Assert.Throws<GgufFormatException>(() => m.GetString("general.architecture"));
        Assert.Equal($"{path}: at byte {archAt}: metadata key 'general.architecture' should be a string but is UInt32.", arch.Message);
        // Used to escape as OverflowException / FormatException.
        var big = Assert.Throws<GgufFormatException>(() => m.TryGetInt32Array("big"));
        Assert.Equal(bigAt, big.Offset);
        Assert.Contains("element 1 (18446744073709551615) does not fit in a 32-bit integer", big.Message);
        Assert.Equal(new[] { 1f, ulong.MaxValue }, m.TryGetFloatArray("big"));
        var words = Assert.Throws<GgufFormatException>(() => m.TryGetFloatArray("words"));
        Assert.Equal(wordsAt, words.Offset);
        Assert.Contains("should be an array of numbers but is an array of String", words.Message);
        Assert.Throws<GgufFormatException>(() => m.TryGetInt32Array("words"));
        Assert.Contains("should be a number", Assert.Throws<GgufFormatException>(() => m.GetFloat("words")).Message);
    }

    [Fact]
    public void GarbageNamesInMessages_AreEscapedAndCutShort()
    {
        var name = "bad\u0001\nname" + new string('x', 3000);
        var bytes = GgufBytes.Header(1, 0).Str(name).At(out var at).U32(9).Zeros(128).ToArray();
        var e = GgufAssert.OpenFails(_dir, bytes, at, "tensor 'bad\\x01\\x0Aname", "…' has 9 dimensions");
        Assert.True(e.Problem.Length < 200, e.Problem);
    }

    [Fact]
    public void InvalidUtf8InStrings_IsReadWithReplacementCharacters()
    {
        var bytes = GgufBytes.Header(0, 1).Key("general.name", GgufValueType.String).U64(3).Bytes(new byte[] { 0x61, 0xFF, 0xC3 }).ToArray();
        using var gguf = GgufFile.Open(_dir.Write("utf8.gguf", bytes));
        Assert.Equal("a\uFFFD\uFFFD", gguf.Metadata.GetString("general.name"));
    }

    // ---- real files truncated at chosen points ----

    /// <summary>Offsets of the "data offset" field of each tensor info of a real file, in info order.</summary>
    private static List<long> TensorOffsetFields(string path, GgufFile gguf)
    {
        var bytes = new byte[gguf.DataOffset];
        using (var s = File.OpenRead(path))
            s.ReadExactly(bytes);
        var fields = new List<long>();
        var p = (int)gguf.TensorInfoOffset;
        foreach (var _ in gguf.Tensors)
        {
            p += 8 + (int)BitConverter.ToUInt64(bytes, p);
            p += 4 + 8 * (int)BitConverter.ToUInt32(bytes, p);
            p += 4;
            fields.Add(p);
            p += 8;
        }
        return fields;
    }

    [Fact]
    public void RealFileTruncated_InsideHeaderMetadataInfosAndData_ReportsWhereAndWhat()
    {
        var source = TestPaths.Model("tiny-a-q4_0.gguf");
        using var original = GgufFile.Open(source);
        var offsetFields = TensorOffsetFields(source, original);
        var copy = _dir.File("truncated.gguf");
        File.Copy(source, copy);

        void TruncateTo(long length)
        {
            using var s = new FileStream(copy, FileMode.Open, FileAccess.Write);
            s.SetLength(length);
        }

        // Largest first so one copy serves every cut.
        var tensorsByEnd = original.Tensors.Select((t, i) => (t, i)).ToList();
        foreach (var cut in new[] { original.FileLength - 1, original.FileLength - 4096, (original.DataOffset + original.FileLength) / 2, original.DataOffset + 100 })
        {
            TruncateTo(cut);
            var (victim, index) = tensorsByEnd.First(x => x.t.FileOffset + x.t.ByteSize > cut);
            GgufAssert.OpenFails(copy, offsetFields[index], $"tensor '{victim.Name}'", "extends past the end of the file", "truncated");
        }

        // Inside the tensor infos: the error is at or before the cut, on a tensor field.
        foreach (var cut in new[] { original.DataOffset - 40, (original.TensorInfoOffset + original.DataOffset) / 2, original.TensorInfoOffset + 3 })
        {
            TruncateTo(cut);
            var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(copy).Dispose());
            Assert.Equal(copy, e.FilePath);
            Assert.InRange(e.Offset, original.TensorInfoOffset, cut);
            Assert.Contains("tensor", e.Problem, StringComparison.Ordinal);
            Assert.Contains("truncated", e.Problem, StringComparison.Ordinal);
        }

        // Inside the metadata (the vocabulary arrays and the scalar keys before them).
        foreach (var cut in new[] { original.TensorInfoOffset - 1, original.TensorInfoOffset / 2, 5000L })
        {
            TruncateTo(cut);
            var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(copy).Dispose());
            Assert.InRange(e.Offset, 24, cut);
            Assert.StartsWith($"{copy}: at byte {e.Offset}: ", e.Message, StringComparison.Ordinal);
            Assert.Contains("metadata", e.Problem, StringComparison.Ordinal);
            Assert.Contains("truncated", e.Problem, StringComparison.Ordinal);
        }

        // So short that the counts in the header cannot be true.
        TruncateTo(200);
        GgufAssert.OpenFails(copy, 8, $"tensor count {original.Tensors.Count} is impossible for a file of 200 bytes", "truncated or corrupt");

        // Inside the 24-byte header.
        TruncateTo(20);
        GgufAssert.OpenFails(copy, 16, "file ends while reading the metadata count");
        TruncateTo(12);
        GgufAssert.OpenFails(copy, 8, "file ends while reading the tensor count");
        TruncateTo(0);
        GgufAssert.OpenFails(copy, 0, "file is empty");
    }
}
