using Tessera.Api.Batches;
using Tessera.Distribution;

namespace Tessera.Cli.Hosting;

/// <summary>The Batch API's files in a content store, each held for its file (<see cref="ContentStore.Hold"/>).</summary>
public sealed class ContentStoreBatchFiles(ContentStore store) : IBatchFileStore
{
    public async Task<(string Sha256, long Size)> AddAsync(Stream content, string holder, CancellationToken cancellationToken)
    {
        var (hash, size) = await store.AddHeldAsync(content, holder, cancellationToken).ConfigureAwait(false);
        return (hash.Hex, size);
    }

    public void Release(string sha256, string holder)
    {
        if (ContentHash.TryParse(sha256, out var hash))
            store.Release(hash, holder);
    }

    public string? PathOf(string sha256) => ContentHash.TryParse(sha256, out var hash) && store.TryGet(hash, out var path) ? path : null;
}
