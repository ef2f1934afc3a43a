namespace Tessera.Identity;

/// <summary>Writes files readable by the owner only (keys, the admin key).</summary>
public static class PrivateFile
{
    public static void WriteAllText(string path, string contents)
    {
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(contents);
            writer.Flush();
            // On disk before the rename publishes it: a power cut leaves the old file or the new one, never an empty one.
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
