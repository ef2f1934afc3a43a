using System.Globalization;

namespace Tessera.Distribution;

/// <summary>
/// The most bytes one download may bring into a content store: the configured download limit or the store's whole
/// budget, whichever is lower (a file over the budget could never stay in the store), or the size the hub announced
/// for the file when it did. One rule for the checks before a download (announced sizes, Content-Length) and during
/// it (bytes received), so a hostile or broken server can neither fill the disk nor send more than it promised.
/// </summary>
internal readonly record struct DownloadLimit(long MaxDownloadBytes, long StoreBytes)
{
    /// <summary>The most bytes any file may have.</summary>
    public long Bytes => Math.Min(MaxDownloadBytes, StoreBytes);

    /// <summary>The most bytes a file of <paramref name="announced"/> size (null: not announced) may deliver.</summary>
    public long For(long? announced) => announced is { } size ? Math.Min(size, Bytes) : Bytes;

    /// <summary>Refuses a file announced (by the hub, or a response's Content-Length) as <paramref name="size"/> bytes.</summary>
    public DownloadTooLargeException RefuseAnnounced(string what, long size) => size > StoreBytes && StoreBytes <= MaxDownloadBytes
        ? new DownloadTooLargeException(
            $"{what} is {Show(size)}, more than the {Show(StoreBytes)} the content store may hold (--cache-limit): it could never stay there. "
            + "Nothing was downloaded; raise the store's limit or choose a smaller file.", size, StoreBytes)
        : new DownloadTooLargeException(
            $"{what} is {Show(size)}, more than the download limit of {Show(MaxDownloadBytes)} (--max-download). "
            + "Nothing was downloaded; raise the limit if the file really is this large.", size, MaxDownloadBytes);

    /// <summary>Stops a transfer whose response is (or says it is, in its Content-Length) larger than <see cref="For"/> allows.</summary>
    public DownloadTooLargeException RefuseReceived(string what, long? announced, long received)
    {
        var limit = For(announced);
        if (announced is { } size && size == limit)
        {
            return new DownloadTooLargeException(
                $"{what}: the server's response is larger than the {Show(size)} announced for the file; the download was stopped and nothing was kept. "
                + "The server is broken or is not serving what it announced.", received, limit);
        }
        var which = limit == MaxDownloadBytes ? "the download limit (--max-download)" : "what the content store may hold (--cache-limit)";
        return new DownloadTooLargeException(
            $"{what}: the server's response is larger than {Show(limit)}, {which}, and the file's size was not announced; the download was stopped and nothing was kept.",
            received, limit);
    }

    /// <summary>Bytes, with GiB beside them when large: "300000000000 bytes (279.4 GiB)".</summary>
    internal static string Show(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes ({bytes / (double)(1L << 30):0.#} GiB)")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");
}
