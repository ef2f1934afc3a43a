using Tessera.Engine.Gguf;

namespace Tessera.Distribution;

/// <summary>
/// A GGUF file on Hugging Face read for its header only: its metadata and tensor table, which is all a plan needs,
/// without downloading gigabytes of weights. The header's bytes go into a sparse local file as long as the remote one
/// (the tensor data is a hole: no disk, reads as zeros), so <see cref="GgufFile.Open"/> checks and reads it as usual.
/// A parse counts only when the whole header (up to the data section) lies within the bytes fetched; otherwise a
/// larger prefix is fetched, up to <see cref="MaxHeaderBytes"/>.
/// </summary>
public static class RemoteGgufHeader
{
    /// <summary>The largest header read (vocabularies of 256k tokens take tens of MB).</summary>
    public const int MaxHeaderBytes = 256 << 20;

    private const int FirstRead = 4 << 20;

    /// <summary>Writes the header of <paramref name="file"/> into a sparse file under <paramref name="directory"/>; the caller deletes it.</summary>
    /// <exception cref="GgufFormatException">The file is not a GGUF, or its header is larger than <see cref="MaxHeaderBytes"/>.</exception>
    public static Task<string> FetchAsync(HuggingFaceDownloader downloader, HuggingFaceUri file, string directory, CancellationToken cancellationToken = default) =>
        FetchAsync(downloader, file, directory, FirstRead, cancellationToken);

    /// <param name="firstRead">Bytes of the first request; each further one reads four times more.</param>
    internal static async Task<string> FetchAsync(HuggingFaceDownloader downloader, HuggingFaceUri file, string directory, int firstRead, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(downloader);
        Directory.CreateDirectory(directory);
        // Not a split-part name, so the loader does not look for sibling parts.
        var path = Path.Combine(directory, "header-" + Guid.NewGuid().ToString("N") + ".gguf");
        for (var count = firstRead; ; count = (int)Math.Min(MaxHeaderBytes, count * 4L))
        {
            var (prefix, size) = await downloader.ReadPrefixAsync(file, count, cancellationToken).ConfigureAwait(false);
            await using (var sparse = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                await sparse.WriteAsync(prefix, cancellationToken).ConfigureAwait(false);
                sparse.SetLength(size);
            }
            var whole = prefix.Length == size;
            try
            {
                using var gguf = GgufFile.Open(path);
                if (whole || gguf.DataOffset <= prefix.Length)
                    return path;
            }
            catch (GgufFormatException ex) when (!whole && count < MaxHeaderBytes && (ex.Offset < 0 || ex.Offset + 1024 >= prefix.Length))
            {
                // Parsed into the hole past the prefix (or the problem lies at its end): read more.
            }
            catch (GgufFormatException ex)
            {
                // A problem among the bytes fetched is the file's own: name the remote file, not the local copy.
                File.Delete(path);
                throw new GgufFormatException(file.ToString(), ex.Offset, ex.Problem);
            }
            catch
            {
                File.Delete(path);
                throw;
            }
            if (whole || count >= MaxHeaderBytes)
            {
                File.Delete(path);
                throw new GgufFormatException(file.ToString(), $"its header is larger than {MaxHeaderBytes >> 20} MB; download it (tessera model pull) and plan the local file.");
            }
        }
    }
}
