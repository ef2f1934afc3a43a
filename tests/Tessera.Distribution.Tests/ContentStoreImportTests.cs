using System.Diagnostics;

namespace Tessera.Distribution.Tests;

/// <summary>
/// A local file imported into the store: hard-linked when it is on the store's file system (the user's file never
/// written to, nor removed with the blob), copied when links fail (forced here: the test's folders share one file system).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes and stat(1)
public sealed class ContentStoreImportTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task OnTheSameFileSystem_TheFileIsHardLinked_AndTheUsersFileIsNeverChanged()
    {
        // Arrange: a read-only file, as a downloaded model often is
        var data = TestData.Bytes(300_000);
        var source = TestData.WriteFile(_dir, "model.gguf", data);
        var written = File.GetLastWriteTimeUtc(source);
        File.SetUnixFileMode(source, UnixFileMode.UserRead | UnixFileMode.GroupRead);
        var store = new ContentStore(_dir.Combine("cache"));

        // Act
        var imported = await store.ImportFileAsync(source);
        var again = await store.ImportFileAsync(source);

        // Assert
        Assert.Equal((ContentHash.Of(data), ImportMethod.HardLink), (imported.Hash, imported.Method));
        Assert.Equal(ImportMethod.AlreadyHeld, again.Method);
        var blob = store.GetBlobPath(imported.Hash);
        Assert.Equal(data, await File.ReadAllBytesAsync(blob));
        Assert.Equal(Inode(source), Inode(blob));
        Assert.Equal(written, File.GetLastWriteTimeUtc(source));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead, File.GetUnixFileMode(source));
        Assert.Empty(Directory.GetFiles(_dir.Combine("cache/partial")));

        store.Remove(imported.Hash);
        Assert.Equal(data, await File.ReadAllBytesAsync(source));
    }

    [Fact]
    public async Task WhenLinksFail_TheFileIsCopied()
    {
        var data = TestData.Bytes(200_000);
        var source = TestData.WriteFile(_dir, "model.gguf", data);
        var store = new ContentStore(_dir.Combine("cache"), hardLink: (_, _) => false);

        var imported = await store.ImportFileAsync(source);

        Assert.Equal((ContentHash.Of(data), ImportMethod.Copy), (imported.Hash, imported.Method));
        var blob = store.GetBlobPath(imported.Hash);
        Assert.Equal(data, await File.ReadAllBytesAsync(blob));
        Assert.NotEqual(Inode(source), Inode(blob));
        Assert.Equal(ImportMethod.AlreadyHeld, (await store.ImportFileAsync(source)).Method);
    }

    /// <summary>The file's inode number, from stat(1): .NET does not expose it.</summary>
    private static string Inode(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-L", "-c", "%d:%i", path]) { RedirectStandardOutput = true })!;
        var output = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return output;
    }
}
