namespace Tessera.Distribution;

/// <summary>Tuning of <see cref="TransferClient"/>; the defaults suit a LAN.</summary>
public sealed class TransferOptions
{
    /// <summary>Chunks fetched at once (spread over the sources).</summary>
    public int MaxParallelChunks { get; set; } = 4;

    /// <summary>Tries per chunk, over all sources together, before the transfer stops (resumable).</summary>
    public int MaxAttemptsPerChunk { get; set; } = 6;

    /// <summary>Pause before retrying a chunk, doubled per attempt.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A chunk that takes longer than this is abandoned and fetched again.</summary>
    public TimeSpan ChunkTimeout { get; set; } = TimeSpan.FromMinutes(2);
}
