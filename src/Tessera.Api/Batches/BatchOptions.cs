namespace Tessera.Api.Batches;

/// <summary>Where OpenAI's Batch API keeps its files and jobs, and how hard it may push.</summary>
public sealed record BatchOptions
{
    /// <summary>The folder of <c>batches.db</c>, the files' and batches' records (created if missing).</summary>
    public required string Directory { get; init; }

    /// <summary>
    /// Where the files' bytes live: the content store, each held for its file (never evicted while the file exists).
    /// </summary>
    public required IBatchFileStore Files { get; init; }

    /// <summary>The largest file one upload may hold (OpenAI's limit for batch input is 200 MB).</summary>
    public long MaxFileBytes { get; init; } = 200L << 20;

    /// <summary>All stored files together, uploads and results; an upload past it is refused (507) until files are deleted.</summary>
    public long MaxTotalBytes { get; init; } = 10L << 30;

    /// <summary>Lines of one batch at most (OpenAI's is 50,000).</summary>
    public int MaxLines { get; init; } = 50_000;

    /// <summary>
    /// Batch lines running at once over all batches. Batch lines only start while the model has room, and never more
    /// than this, so interactive requests keep the rest of the sessions.
    /// </summary>
    public int MaxConcurrentLines { get; init; } = 2;

    /// <summary>How long the runner waits when the model is full or a line was answered 429/503.</summary>
    public TimeSpan BusyBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How often the runner looks for work when nothing woke it.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
}
