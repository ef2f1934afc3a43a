using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Tessera.Distribution;

/// <summary>
/// How a blob travels: its size and SHA-256, cut into fixed-size chunks (the last one shorter) each with its own
/// SHA-256, so a receiver verifies every chunk as it lands, fetches chunks from several sources and resumes
/// from the chunks it already holds. Serialised as JSON: <c>{"sha256","size","chunkSize","chunks":[...]}</c>.
/// </summary>
public sealed class ChunkManifest
{
    /// <summary>16 MiB: large enough that per-request overhead vanishes, small enough to retry cheaply.</summary>
    public const int DefaultChunkSize = 16 << 20;

    public const int MinChunkSize = 4 << 10;

    public const int MaxChunkSize = 256 << 20;

    /// <summary>What <see cref="IsAllowedChunkSize"/> allows, in words.</summary>
    public const string ChunkSizeRule = "a chunk size must be a power of two from 4 KiB to 256 MiB";

    /// <summary>
    /// A power of two from <see cref="MinChunkSize"/> to <see cref="MaxChunkSize"/>: few sizes, so a server computes
    /// (and caches) few manifests per blob however many sizes clients ask for.
    /// </summary>
    public static bool IsAllowedChunkSize(int chunkSize) => chunkSize is >= MinChunkSize and <= MaxChunkSize && int.IsPow2(chunkSize);

    public ChunkManifest(ContentHash hash, long size, int chunkSize, IReadOnlyList<ContentHash> chunks)
    {
        if (hash.IsEmpty)
            throw new ArgumentException("A manifest needs the blob's hash.", nameof(hash));
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, MinChunkSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkSize, MaxChunkSize);
        ArgumentNullException.ThrowIfNull(chunks);
        var expected = ChunkCountFor(size, chunkSize);
        if (chunks.Count != expected)
            throw new ArgumentException($"A {size}-byte blob in {chunkSize}-byte chunks has {expected} chunks, the manifest lists {chunks.Count}.", nameof(chunks));
        if (chunks.Any(c => c.IsEmpty))
            throw new ArgumentException("Every chunk needs a hash.", nameof(chunks));
        Hash = hash;
        Size = size;
        ChunkSize = chunkSize;
        Chunks = chunks.ToArray();
    }

    public ContentHash Hash { get; }

    public long Size { get; }

    public int ChunkSize { get; }

    public IReadOnlyList<ContentHash> Chunks { get; }

    public int ChunkCount => Chunks.Count;

    public static int ChunkCountFor(long size, int chunkSize) => checked((int)((size + chunkSize - 1) / chunkSize));

    /// <summary>Offset and length of chunk <paramref name="index"/>.</summary>
    public (long Offset, int Length) GetChunk(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, ChunkCount);
        var offset = (long)index * ChunkSize;
        return (offset, (int)Math.Min(ChunkSize, Size - offset));
    }

    /// <summary>Reads a file once, hashing the whole and every chunk.</summary>
    public static async Task<ChunkManifest> ComputeAsync(string path, int chunkSize = DefaultChunkSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, MinChunkSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkSize, MaxChunkSize);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var size = stream.Length;
        var chunks = new List<ContentHash>(ChunkCountFor(size, chunkSize));
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var part = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(chunkSize, 1 << 20));
        try
        {
            long inChunk = 0;
            while (true)
            {
                var want = (int)Math.Min(buffer.Length, chunkSize - inChunk);
                var n = await stream.ReadAsync(buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    break;
                whole.AppendData(buffer, 0, n);
                part.AppendData(buffer, 0, n);
                inChunk += n;
                if (inChunk == chunkSize)
                {
                    chunks.Add(ContentHash.FromBytes(part.GetHashAndReset()));
                    inChunk = 0;
                }
            }
            if (inChunk > 0)
                chunks.Add(ContentHash.FromBytes(part.GetHashAndReset()));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return new ChunkManifest(ContentHash.FromBytes(whole.GetHashAndReset()), size, chunkSize, chunks);
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("sha256", Hash.Hex);
            w.WriteNumber("size", Size);
            w.WriteNumber("chunkSize", ChunkSize);
            w.WriteStartArray("chunks");
            foreach (var c in Chunks)
                w.WriteStringValue(c.Hex);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Parses and checks a manifest; anything malformed is a <see cref="FormatException"/>.</summary>
    public static ChunkManifest FromJson(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var hash = ContentHash.Parse(root.GetProperty("sha256").GetString() ?? "");
            var size = root.GetProperty("size").GetInt64();
            var chunkSize = root.GetProperty("chunkSize").GetInt32();
            var chunks = root.GetProperty("chunks").EnumerateArray().Select(e => ContentHash.Parse(e.GetString() ?? "")).ToList();
            return new ChunkManifest(hash, size, chunkSize, chunks);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            throw new FormatException("Malformed chunk manifest: " + e.Message, e);
        }
    }
}
