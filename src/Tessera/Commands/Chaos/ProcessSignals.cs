using System.Runtime.InteropServices;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>
/// SIGSTOP and SIGCONT to a process, by the kill(2) call rather than the kill tool: a slow agent's duty cycle sends
/// twenty signals a second, and starting a process for each would itself load the two cores the agents share.
/// </summary>
internal static partial class ProcessSignals
{
    // The same numbers on x86-64 and arm64 Linux, the platforms chaos runs on.
    private const int SigCont = 18;
    private const int SigStop = 19;

    /// <summary>Stops <paramref name="pid"/> (it cannot catch or ignore it); false when it is gone.</summary>
    public static bool Stop(int pid) => Send(pid, SigStop);

    /// <summary>Lets a stopped <paramref name="pid"/> run again; false when it is gone.</summary>
    public static bool Continue(int pid) => Send(pid, SigCont);

    private static bool Send(int pid, int signal)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("stop and slow faults send POSIX signals; they run on Linux.");
        return Kill(pid, signal) == 0;
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
