using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Tessera.Distribution;

/// <summary>
/// A SHA-256 digest, the address of a blob everywhere in Tessera. Written as 64 lowercase hex digits;
/// <see cref="Parse"/> also accepts upper case and a <c>sha256:</c> prefix.
/// </summary>
public readonly record struct ContentHash
{
    public const int HexLength = 64;

    private readonly string? _hex;

    private ContentHash(string hex) => _hex = hex;

    /// <summary>The digest as 64 lowercase hex digits.</summary>
    public string Hex => _hex ?? throw new InvalidOperationException("An uninitialised ContentHash has no value.");

    public bool IsEmpty => _hex is null;

    public static ContentHash Parse(string text) =>
        TryParse(text, out var hash) ? hash : throw new FormatException($"'{text}' is not a SHA-256 hash (64 hex digits, optionally prefixed by sha256:).");

    public static bool TryParse([NotNullWhen(true)] string? text, out ContentHash hash)
    {
        hash = default;
        if (text is null)
            return false;
        var span = text.AsSpan().Trim();
        if (span.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
            span = span[7..];
        if (span.Length != HexLength)
            return false;
        foreach (var c in span)
        {
            if (!char.IsAsciiHexDigit(c))
                return false;
        }
        hash = new ContentHash(span.ToString().ToLowerInvariant());
        return true;
    }

    public static ContentHash FromBytes(ReadOnlySpan<byte> digest)
    {
        if (digest.Length != SHA256.HashSizeInBytes)
            throw new ArgumentException($"A SHA-256 digest is {SHA256.HashSizeInBytes} bytes, got {digest.Length}.", nameof(digest));
        return new ContentHash(Convert.ToHexStringLower(digest));
    }

    /// <summary>The SHA-256 of a byte span.</summary>
    public static ContentHash Of(ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, digest);
        return FromBytes(digest);
    }

    /// <summary>The SHA-256 of a file's whole content.</summary>
    public static async Task<ContentHash> OfFileAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return await OfStreamAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The SHA-256 of a file's whole content, synchronously.</summary>
    public static ContentHash OfFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return FromBytes(SHA256.HashData(stream));
    }

    /// <summary>The SHA-256 of a stream from its current position to its end.</summary>
    public static async Task<ContentHash> OfStreamAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        var digest = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return FromBytes(digest);
    }

    /// <summary>The SHA-256 of <paramref name="length"/> bytes of a file from <paramref name="offset"/>.</summary>
    internal static ContentHash OfFileRange(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, int length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(length, 1 << 20));
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var done = 0;
            while (done < length)
            {
                var n = RandomAccess.Read(handle, buffer.AsSpan(0, Math.Min(buffer.Length, length - done)), offset + done);
                if (n == 0)
                    break;
                hash.AppendData(buffer, 0, n);
                done += n;
            }
            return done == length ? FromBytes(hash.GetHashAndReset()) : default;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override string ToString() => _hex ?? "";
}
