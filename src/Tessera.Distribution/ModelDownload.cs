namespace Tessera.Distribution;

/// <summary>A model brought into the content store: its files (one, or a split set's parts in order), each one's blob, and where it loads from.</summary>
/// <param name="Path">Part 1 under its own name in <see cref="ContentStore.NameDirectory"/>: what a loader opens (and finds the other parts beside).</param>
public sealed record ModelDownload(IReadOnlyList<HuggingFaceUri> Files, IReadOnlyList<DownloadResult> Parts, string Path)
{
    public long Bytes => Parts.Sum(p => p.Size);

    public bool FromCache => Parts.All(p => p.FromCache);
}
