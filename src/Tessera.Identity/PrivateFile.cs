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
        using (var writer = new StreamWriter(stream))
            writer.Write(contents);
        File.Move(temp, path, overwrite: true);
    }
}
