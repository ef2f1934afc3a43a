namespace Tessera.Distribution;

/// <summary>A blob held by a <see cref="ContentStore"/>: its hash, size, path and when it was last used.</summary>
public sealed record ContentStoreEntry(ContentHash Hash, long Size, string Path, DateTimeOffset LastUsed);
