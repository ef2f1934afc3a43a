using System.Runtime.InteropServices;

namespace Tessera.Distribution;

/// <summary>
/// Hard links, which .NET has no API for: one more name for a file's data, made in no time and taking no space, but only
/// on the file system that holds the file.
/// </summary>
internal static partial class FileLinks
{
    /// <summary>Makes <paramref name="link"/> a new name of <paramref name="existing"/>; false when the system refuses (another file system, no support).</summary>
    public static bool TryHardLink(string existing, string link)
    {
        try
        {
            return OperatingSystem.IsWindows() ? CreateHardLinkW(link, existing, 0) : HardLinkUnix(existing, link) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int HardLinkUnix(string existing, string link);

    [LibraryImport("kernel32.dll", StringMarshalling = StringMarshalling.Utf16, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool CreateHardLinkW(string link, string existing, nint securityAttributes);
}
