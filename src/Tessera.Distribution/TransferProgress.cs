namespace Tessera.Distribution;

/// <summary>
/// Where a transfer stands: <see cref="BytesDone"/> of <see cref="TotalBytes"/> (bytes found verified in the cache
/// count as done), the rate of this session's network transfer, and what is being transferred.
/// </summary>
public readonly record struct TransferProgress(string What, long BytesDone, long TotalBytes, double BytesPerSecond)
{
    /// <summary>0..1; 1 for an empty file.</summary>
    public double Fraction => TotalBytes <= 0 ? 1 : Math.Clamp((double)BytesDone / TotalBytes, 0, 1);

    public bool IsComplete => BytesDone >= TotalBytes;

    /// <summary>Time left at the current rate, when there is a rate.</summary>
    public TimeSpan? Remaining => BytesPerSecond > 0 ? TimeSpan.FromSeconds(Math.Max(0, TotalBytes - BytesDone) / BytesPerSecond) : null;
}
