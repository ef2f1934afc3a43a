namespace Tessera.Api.Batches;

/// <summary>
/// Where the bytes of batch files live: a content-addressed store in which each file holds its blob against eviction
/// (the product's content store; <c>ContentStoreBatchFiles</c> in the executable). The Batch API keeps only the
/// files' metadata and hashes; it never reaches the engine's or the store's types.
/// </summary>
public interface IBatchFileStore
{
    /// <summary>Stores <paramref name="content"/>, held for <paramref name="holder"/>; its SHA-256 (lowercase hex) and size.</summary>
    Task<(string Sha256, long Size)> AddAsync(Stream content, string holder, CancellationToken cancellationToken);

    /// <summary>Drops <paramref name="holder"/>'s hold on the blob; its bytes go when no one else holds it.</summary>
    void Release(string sha256, string holder);

    /// <summary>Where the blob's bytes are, or null when the store no longer has them.</summary>
    string? PathOf(string sha256);
}
