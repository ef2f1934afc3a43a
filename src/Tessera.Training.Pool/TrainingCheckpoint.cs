using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Tessera.Training.Pool;

/// <summary>What a checkpoint holds besides the two vectors.</summary>
public sealed record CheckpointHeader(
    string RunId, int Round, long Cursor, long Tokens, long BytesUp, long BytesDown, int ParameterCount,
    IReadOnlyList<double> PreviousAcceptedNorms, float? ValidationLoss, DateTimeOffset WrittenAt);

/// <summary>
/// A coordinator checkpoint: the global model after <see cref="CheckpointHeader.Round"/> rounds, the outer optimizer's
/// momentum, the data cursor and the counters. File layout: "TSCKPT1\n", a little-endian int32 length and that many
/// bytes of JSON header, then the parameters and the momentum as little-endian f32. Written to a temporary file, flushed
/// to disk and renamed, so a crash leaves the previous checkpoint whole; the newest two are kept.
/// </summary>
public static class TrainingCheckpoint
{
    private static readonly byte[] Magic = "TSCKPT1\n"u8.ToArray();

    /// <summary>The checkpoint file for a round.</summary>
    public static string PathFor(string directory, int round) => Path.Combine(directory, $"round-{round:D6}.ckpt");

    /// <summary>Writes a checkpoint and removes all but the newest <paramref name="keep"/>.</summary>
    public static string Write(string directory, CheckpointHeader header, ReadOnlySpan<float> parameters, ReadOnlySpan<float> momentum, int keep = 2)
    {
        Directory.CreateDirectory(directory);
        var path = PathFor(directory, header.Round);
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header, TrainingConfig.Json));
            stream.Write(Magic);
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, json.Length);
            stream.Write(length);
            stream.Write(json);
            stream.Write(MemoryMarshal.AsBytes(parameters));
            stream.Write(MemoryMarshal.AsBytes(momentum));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        foreach (var old in List(directory).SkipLast(keep)) File.Delete(old);
        return path;
    }

    /// <summary>The checkpoint files in a folder, oldest first.</summary>
    public static IReadOnlyList<string> List(string directory) =>
        Directory.Exists(directory) ? Directory.GetFiles(directory, "round-*.ckpt").Order(StringComparer.Ordinal).ToList() : [];

    /// <summary>Reads a checkpoint; throws <see cref="TrainingConfigException"/> saying what is wrong with a damaged one.</summary>
    public static (CheckpointHeader Header, float[] Parameters, float[] Momentum) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < Magic.Length + 4 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new TrainingConfigException($"{path} is not a Tessera training checkpoint.");
        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Magic.Length));
        var start = Magic.Length + 4;
        if (length <= 0 || start + (long)length > bytes.Length) throw new TrainingConfigException($"{path} is truncated (its header runs past the end).");
        CheckpointHeader header;
        try
        {
            header = JsonSerializer.Deserialize<CheckpointHeader>(bytes.AsSpan(start, length), TrainingConfig.Json)
                ?? throw new TrainingConfigException($"{path} has an empty header.");
        }
        catch (JsonException ex)
        {
            throw new TrainingConfigException($"{path} has a damaged header: {ex.Message}", ex);
        }
        var body = bytes.AsSpan(start + length);
        if (body.Length != 8L * header.ParameterCount)
            throw new TrainingConfigException($"{path} is truncated or damaged: {body.Length} bytes of vectors for {header.ParameterCount} parameters (expected {8L * header.ParameterCount}).");
        var parameters = MemoryMarshal.Cast<byte, float>(body[..(4 * header.ParameterCount)]).ToArray();
        var momentum = MemoryMarshal.Cast<byte, float>(body[(4 * header.ParameterCount)..]).ToArray();
        return (header, parameters, momentum);
    }

    /// <summary>The newest checkpoint that reads cleanly (a damaged newest one is skipped with a warning), or null.</summary>
    public static (CheckpointHeader Header, float[] Parameters, float[] Momentum)? ReadLatest(string directory, Action<string>? warn = null)
    {
        foreach (var path in List(directory).Reverse())
        {
            try { return Read(path); }
            catch (TrainingConfigException ex) { warn?.Invoke(ex.Message + " Falling back to the one before."); }
        }
        return null;
    }
}
