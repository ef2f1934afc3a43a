using System.Diagnostics;
using System.Runtime.InteropServices;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Hardware;

/// <summary>Discovers this machine's CPU, memory, disk and NVIDIA GPUs (I/O side; parsing lives in the pure parsers).</summary>
public static class HardwareDiscovery
{
    /// <param name="cpuSpeedGbps">The CPU's memory-bound speed, measured by the caller (the engine's probe) or declared; 0 when unknown.</param>
    public static Protocol.Hardware Discover(string dataDirectory, double cpuSpeedGbps)
    {
        var (ramTotal, ramFree) = ReadMemory();
        var hardware = new Protocol.Hardware
        {
            CpuModel = ReadCpuModel(),
            LogicalCores = Environment.ProcessorCount,
            RamTotalBytes = ramTotal,
            RamFreeBytes = ramFree,
            DiskFreeBytes = DiskFree(dataDirectory),
            Os = RuntimeInformation.OSDescription,
            AgentVersion = BuildVersion.Full,
            CpuSpeedGbps = cpuSpeedGbps,
        };
        hardware.Simd.AddRange(SimdFeatures.Detect());
        foreach (var gpu in QueryNvidiaGpus())
        {
            hardware.Gpus.Add(new Gpu
            {
                Index = gpu.Index,
                Name = gpu.Name,
                MemoryTotalBytes = gpu.MemoryTotalBytes,
                MemoryFreeBytes = gpu.MemoryFreeBytes,
                ComputeCapability = gpu.ComputeCapability,
                DriverVersion = gpu.DriverVersion,
                UtilizationPercent = gpu.UtilizationPercent,
            });
        }
        return hardware;
    }

    /// <summary>Current free memory, disk and GPU figures for a heartbeat.</summary>
    public static Metrics SampleMetrics(string dataDirectory, bool hasGpus, ref (long Busy, long Total) lastCpu)
    {
        var metrics = new Metrics
        {
            RamFreeBytes = ReadMemory().Available,
            DiskFreeBytes = DiskFree(dataDirectory),
        };
        var cpu = ReadCpuTimes();
        if (lastCpu.Total > 0 && cpu.Total > lastCpu.Total)
            metrics.CpuBusyPercent = Math.Round(100.0 * (cpu.Busy - lastCpu.Busy) / (cpu.Total - lastCpu.Total), 1);
        lastCpu = cpu;
        if (hasGpus)
        {
            foreach (var gpu in QueryNvidiaGpus())
                metrics.Gpus.Add(new GpuMetrics { Index = gpu.Index, MemoryFreeBytes = gpu.MemoryFreeBytes, UtilizationPercent = gpu.UtilizationPercent });
        }
        return metrics;
    }

    public static IReadOnlyList<GpuInfo> QueryNvidiaGpus()
    {
        var tool = FindOnPath("nvidia-smi");
        if (tool is null)
            return [];
        try
        {
            var start = new ProcessStartInfo(tool, NvidiaSmiParser.QueryArguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(start);
            if (process is null)
                return [];
            var output = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(5000))
            {
                process.Kill();
                return [];
            }
            return process.ExitCode == 0 ? NvidiaSmiParser.Parse(output.Result) : [];
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or FormatException or InvalidOperationException)
        {
            return [];
        }
    }

    private static string ReadCpuModel()
    {
        try
        {
            return ProcParsers.CpuModel(File.ReadAllText("/proc/cpuinfo"));
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    private static (long Total, long Available) ReadMemory()
    {
        try
        {
            return ProcParsers.Memory(File.ReadAllText("/proc/meminfo"));
        }
        catch (IOException)
        {
            var info = GC.GetGCMemoryInfo();
            return (info.TotalAvailableMemoryBytes, info.TotalAvailableMemoryBytes - info.MemoryLoadBytes);
        }
    }

    private static (long Busy, long Total) ReadCpuTimes()
    {
        try
        {
            return ProcParsers.CpuTimes(File.ReadAllText("/proc/stat"));
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }

    private static long DiskFree(string directory)
    {
        try
        {
            return new DriveInfo(Path.GetFullPath(directory)).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static string? FindOnPath(string tool)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }
}
