using System.IO.MemoryMappedFiles;

namespace Tessera.Engine.Gguf;

/// <summary>
/// One GGUF file mapped read-only and its header parsed and checked: the unit <see cref="GgufFile"/> is made of (one
/// for a model in one file, one per part of a split model). Owns the map until disposed.
/// </summary>
internal sealed unsafe class GgufMappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;

    private GgufMappedFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer, long length, GgufHeaderParser.Header header)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePointer;
        Length = length;
        Header = header;
    }

    public string Path { get; }

    public long Length { get; }

    public GgufHeaderParser.Header Header { get; }

    /// <summary>The first byte of the map; null once disposed.</summary>
    public byte* Base => _base;

    /// <summary>
    /// Opens and validates <paramref name="path"/>. Any problem with the file (missing, a directory, unreadable,
    /// truncated, corrupt, unsupported) is a <see cref="GgufFormatException"/>; nothing else escapes for bad input.
    /// </summary>
    public static GgufMappedFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new GgufFormatException(path, "is a directory, not a GGUF file.");
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new GgufFormatException(path, "file not found.");
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or NotSupportedException or ArgumentException)
        {
            throw new GgufFormatException(path, "cannot be read: " + e.Message);
        }

        long length;
        try
        {
            length = stream.CanSeek ? stream.Length : -1;
        }
        catch (Exception e) when (e is IOException or NotSupportedException)
        {
            length = -1;
        }

        if (length <= 0)
        {
            stream.Dispose();
            throw length == 0
                ? new GgufFormatException(path, 0, "file is empty (0 bytes); the download or copy did not complete.")
                : new GgufFormatException(path, "is not a regular file; a GGUF model must be a file on disk.");
        }

        MemoryMappedFile map;
        MemoryMappedViewAccessor view;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new GgufFormatException(path, "cannot be memory-mapped: " + e.Message);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            map.Dispose();
            throw new GgufFormatException(path, "cannot be memory-mapped: " + e.Message);
        }
        catch
        {
            map.Dispose();
            throw;
        }

        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        pointer += view.PointerOffset;
        try
        {
            var parser = new GgufHeaderParser(path, pointer, length);
            var header = parser.Parse();
            return new GgufMappedFile(path, map, view, pointer, length, header);
        }
        catch
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_base == null)
            return;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
