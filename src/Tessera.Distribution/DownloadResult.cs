namespace Tessera.Distribution;

/// <summary>A file in the content store: where it is, its SHA-256 and size, and whether it was already there.</summary>
public sealed record DownloadResult(string Path, ContentHash Hash, long Size, bool FromCache);
