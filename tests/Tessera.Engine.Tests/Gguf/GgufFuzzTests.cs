using System.Diagnostics;
using Tessera.Engine.Gguf;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Engine.Tests.Gguf;

/// <summary>
/// Mutated and truncated real files: opening each must either succeed (and then every tensor and metadata value
/// must be readable) or fail with a <see cref="GgufFormatException"/>; never any other exception, never more
/// than a second, never an absurd allocation. Seeds are fixed so a failure reproduces.
/// </summary>
public sealed class GgufFuzzTests(ITestOutputHelper output) : IDisposable
{
    // Hang guards, not speed targets: an open normally takes milliseconds, but CI machines are shared and
    // busy, so the bounds only catch a parser that loops or crawls through a hostile count.
    private static readonly TimeSpan MaxTimePerTest = TimeSpan.FromSeconds(180);

    private const long MaxAllocatedBytesPerOpen = 64L << 20;
    private static readonly TimeSpan MaxTimePerOpen = TimeSpan.FromSeconds(20);

    private static readonly ulong[] InterestingValues =
    {
        0, 1, 2, 7, 8, 12, 13, 31, 32, 33, 255, 256, 65535, 1UL << 31, uint.MaxValue, 1UL << 32, 1UL << 40, (1UL << 40) + 1,
        1UL << 62, 1UL << 63, long.MaxValue, ulong.MaxValue, ulong.MaxValue - 7,
    };

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Outcome counts, to show the fuzzing reached both outcomes.</summary>
    private sealed class Tally
    {
        public int Opened;
        public int Rejected;
        public readonly HashSet<string> Problems = new(StringComparer.Ordinal);
    }

    [Fact]
    public void MutatedTinyModel_HeaderMetadataAndTensorInfos_OpensOrFailsCleanly()
    {
        var source = TestPaths.Model("tiny-a-q4_0.gguf");
        long infoStart, dataStart;
        using (var original = GgufFile.Open(source))
        {
            infoStart = original.TensorInfoOffset;
            dataStart = original.DataOffset;
        }

        var copy = _dir.File("mutated.gguf");
        File.Copy(source, copy);
        var header = new byte[dataStart];
        using (var s = File.OpenRead(source))
            s.ReadExactly(header);

        var tally = new Tally();
        var total = Stopwatch.StartNew();
        // 300 mutations: the scalar metadata at the start, the whole metadata region (vocabulary arrays),
        // and the tensor infos.
        for (var seed = 0; seed < 300; seed++)
        {
            var rng = new Random(seed);
            var (start, end) = (seed % 3) switch
            {
                0 => (0L, Math.Min(4096, infoStart)),
                1 => (0L, infoStart),
                _ => (infoStart, dataStart),
            };
            var patches = Mutate(rng, header, start, end);
            using (var s = new FileStream(copy, FileMode.Open, FileAccess.Write))
            {
                foreach (var (offset, bytes) in patches)
                {
                    s.Position = offset;
                    s.Write(bytes);
                }
            }

            OpenOrFailCleanly(copy, $"tiny-a-q4_0 seed {seed} ({string.Join(", ", patches.Select(p => $"{p.Offset}:{Convert.ToHexString(p.Bytes)}"))})", tally);

            using (var s = new FileStream(copy, FileMode.Open, FileAccess.Write))
            {
                foreach (var (offset, bytes) in patches)
                {
                    s.Position = offset;
                    s.Write(header.AsSpan((int)offset, bytes.Length));
                }
            }
        }

        output.WriteLine($"opened {tally.Opened}, rejected {tally.Rejected}, {tally.Problems.Count} kinds of problem, {total.Elapsed.TotalSeconds:F1} s:");
        foreach (var problem in tally.Problems.Order(StringComparer.Ordinal))
            output.WriteLine("  " + problem);
        Assert.True(total.Elapsed < MaxTimePerTest, $"took {total.Elapsed}");
        Assert.True(tally.Opened > 10, $"only {tally.Opened} mutated files opened");
        Assert.True(tally.Rejected > 50, $"only {tally.Rejected} mutated files were rejected");
        Assert.True(tally.Problems.Count > 10, "too few distinct problems: " + string.Join(" | ", tally.Problems));
    }

    [Theory]
    [InlineData("ggml-vocab-llama-spm.gguf")]
    [InlineData("ggml-vocab-gpt-2.gguf")]
    [InlineData("ggml-vocab-phi-3.gguf")]
    public void MutatedVocabFile_OpensOrFailsCleanly(string file)
    {
        var original = File.ReadAllBytes(TestPaths.Vocab(file));
        var tally = new Tally();
        var total = Stopwatch.StartNew();
        for (var seed = 0; seed < 100; seed++)
        {
            var rng = new Random(1000 + seed);
            var mutated = (byte[])original.Clone();
            // Mostly the first 8 KB (scalar keys and the array headers), some anywhere.
            var end = seed % 4 == 0 ? mutated.Length : Math.Min(8192, mutated.Length);
            foreach (var (offset, bytes) in Mutate(rng, original, 0, end))
                bytes.CopyTo(mutated, offset);
            var path = _dir.Write($"vocab-{seed}.gguf", mutated);
            OpenOrFailCleanly(path, $"{file} seed {seed}", tally);
            File.Delete(path);
        }

        output.WriteLine($"opened {tally.Opened}, rejected {tally.Rejected}, {tally.Problems.Count} kinds of problem, {total.Elapsed.TotalSeconds:F1} s");
        Assert.True(total.Elapsed < MaxTimePerTest, $"took {total.Elapsed}");
        Assert.True(tally.Opened > 0 && tally.Rejected > 0, $"opened {tally.Opened}, rejected {tally.Rejected}");
    }

    [Theory]
    [InlineData("models", "tiny-a-q4_0.gguf")]
    [InlineData("models", "tiny-a-q4_k_m.gguf")]
    [InlineData("vocab", "ggml-vocab-llama-spm.gguf")]
    [InlineData("vocab", "ggml-vocab-gpt-2.gguf")]
    public void TruncatedAtEvery64th_FailsCleanly(string folder, string file)
    {
        var source = folder == "models" ? TestPaths.Model(file) : TestPaths.Vocab(file);
        var length = new FileInfo(source).Length;
        var copy = _dir.File("cut-" + file);
        File.Copy(source, copy);
        var tally = new Tally();
        // Longest first, so one copy is cut shorter and shorter.
        for (var k = 63; k >= 0; k--)
        {
            var cut = length * k / 64;
            using (var s = new FileStream(copy, FileMode.Open, FileAccess.Write))
                s.SetLength(cut);
            var e = OpenOrFailCleanly(copy, $"{file} cut to {cut} of {length} bytes", tally);
            Assert.NotNull(e);
            Assert.InRange(e.Offset, 0, cut);
        }

        Assert.Equal(64, tally.Rejected);
    }

    /// <summary>1 to 3 patches inside [start, end): byte and bit flips, and interesting 32/64-bit values.</summary>
    private static List<(long Offset, byte[] Bytes)> Mutate(Random rng, byte[] original, long start, long end)
    {
        var patches = new List<(long, byte[])>();
        var count = rng.Next(1, 4);
        for (var i = 0; i < count; i++)
        {
            var offset = start + rng.NextInt64(end - start);
            byte[] bytes;
            switch (rng.Next(6))
            {
                case 0:
                    bytes = new[] { (byte)rng.Next(256) };
                    break;
                case 1:
                    bytes = new[] { (byte)(original[offset] ^ (1 << rng.Next(8))) };
                    break;
                case 2:
                    bytes = new[] { rng.Next(2) == 0 ? (byte)0xFF : (byte)0 };
                    break;
                case 3:
                    bytes = BitConverter.GetBytes((uint)InterestingValues[rng.Next(InterestingValues.Length)]);
                    break;
                case 4:
                    bytes = BitConverter.GetBytes(InterestingValues[rng.Next(InterestingValues.Length)]);
                    break;
                default:
                    bytes = new byte[rng.Next(1, 9)];
                    rng.NextBytes(bytes);
                    break;
            }

            var length = (int)Math.Min(bytes.Length, original.Length - offset);
            patches.Add((offset, bytes[..length]));
        }

        return patches;
    }

    private static GgufFormatException? OpenOrFailCleanly(string path, string what, Tally tally)
    {
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        GgufFormatException? failure = null;
        try
        {
            using var gguf = GgufFile.Open(path);
            GgufAssert.Exercise(gguf);
            tally.Opened++;
        }
        catch (GgufFormatException e)
        {
            Assert.Equal(path, e.FilePath);
            Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(e.Problem));
            tally.Rejected++;
            tally.Problems.Add(ProblemKind(e.Problem));
            failure = e;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name} escaped instead of a GgufFormatException: {e}");
        }

        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Assert.True(clock.Elapsed < MaxTimePerOpen, $"{what}: took {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(allocated < MaxAllocatedBytesPerOpen, $"{what}: allocated {allocated >> 20} MiB");
        return failure;
    }

    /// <summary>The problem text without numbers and quoted names, to count distinct kinds of failure.</summary>
    private static string ProblemKind(string problem)
    {
        var chars = problem.Where(c => !char.IsDigit(c)).ToArray();
        var text = new string(chars);
        var quote = text.IndexOf('\'', StringComparison.Ordinal);
        var close = quote < 0 ? -1 : text.IndexOf('\'', quote + 1);
        return close < 0 ? text : text[..quote] + text[(close + 1)..];
    }
}
