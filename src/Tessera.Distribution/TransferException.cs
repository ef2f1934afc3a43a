namespace Tessera.Distribution;

/// <summary>
/// A model transfer failed in a way a user can act on (the message says how). Derives from
/// <see cref="IOException"/> so hosts and the CLI report it as one line, never a stack trace.
/// </summary>
public class TransferException : IOException
{
    public TransferException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>
/// The transfer stopped before the file was complete (network loss, every source failing). What was verified
/// stays in the cache's partial files: the same transfer started again continues from there.
/// </summary>
public sealed class TransferInterruptedException : TransferException
{
    public TransferInterruptedException(string message, long bytesDone, long totalBytes, Exception? inner = null)
        : base(message, inner)
    {
        BytesDone = bytesDone;
        TotalBytes = totalBytes;
    }

    public long BytesDone { get; }

    public long TotalBytes { get; }
}

/// <summary>Content did not hash to what it should: it was not published, and its partial file was removed.</summary>
public sealed class ChecksumMismatchException : TransferException
{
    public ChecksumMismatchException(string what, ContentHash expected, ContentHash actual)
        : base($"{what}: checksum mismatch, expected sha256 {expected} but the data hashes to {actual}. Nothing was kept; the source serves corrupt or different data.")
    {
        Expected = expected;
        Actual = actual;
    }

    public ContentHash Expected { get; }

    public ContentHash Actual { get; }
}
