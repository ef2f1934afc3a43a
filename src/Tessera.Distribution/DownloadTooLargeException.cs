namespace Tessera.Distribution;

/// <summary>
/// A download was refused or stopped because the file is larger than it may be: larger than the download limit
/// (<see cref="HuggingFaceOptions.MaxDownloadBytes"/>), than the content store can ever hold
/// (<see cref="ContentStore.MaxBytes"/>), or than the size the hub announced. Nothing of it is kept.
/// </summary>
public sealed class DownloadTooLargeException : TransferException
{
    public DownloadTooLargeException(string message, long size, long limit)
        : base(message)
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>The size announced for the file, or the bytes received when it went over <see cref="Limit"/>.</summary>
    public long Size { get; }

    /// <summary>The most bytes the file was allowed to have.</summary>
    public long Limit { get; }
}
