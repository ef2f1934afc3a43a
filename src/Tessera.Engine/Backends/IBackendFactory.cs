namespace Tessera.Engine.Backends;

/// <summary>
/// Creates the compute backend for a device: the one place a stage's backend is chosen from the device the plan
/// assigned. Device names are a node's local part of a pool device id: <c>cpu</c>, <c>gpu0</c>, <c>gpu1</c>, ...
/// (a full id such as <c>node-a/gpu0</c> is accepted too).
/// </summary>
public interface IBackendFactory
{
    /// <summary>
    /// A backend computing on <paramref name="device"/> with <paramref name="threads"/> host threads (0: every
    /// processor). Throws <see cref="ArgumentException"/> naming the device and what this machine offers when it cannot.
    /// </summary>
    IComputeBackend Create(string device, int threads);
}

/// <summary>Device names as stages and plans use them.</summary>
public static class ComputeDevices
{
    /// <summary>The CPU of this machine.</summary>
    public const string Cpu = "cpu";

    /// <summary>The local part of a pool device id (<c>node-a/gpu0</c> gives <c>gpu0</c>); empty means the CPU.</summary>
    public static string Local(string? device)
    {
        if (string.IsNullOrWhiteSpace(device))
            return Cpu;
        var slash = device.LastIndexOf('/');
        return (slash >= 0 ? device[(slash + 1)..] : device).Trim().ToLowerInvariant();
    }

    /// <summary>True for the CPU (<c>cpu</c>, empty, or an id ending in <c>/cpu</c>).</summary>
    public static bool IsCpu(string? device) => Local(device) == Cpu;

    /// <summary>A CPU backend of <paramref name="threads"/> threads (0: every processor).</summary>
    public static CpuBackend CreateCpu(int threads) => new(threads <= 0 ? Environment.ProcessorCount : threads);
}

/// <summary>Backends of a program built without GPU support: the CPU only.</summary>
public sealed class CpuBackendFactory : IBackendFactory
{
    public static CpuBackendFactory Instance { get; } = new();

    public IComputeBackend Create(string device, int threads) => ComputeDevices.IsCpu(device)
        ? ComputeDevices.CreateCpu(threads)
        : throw new ArgumentException($"Device '{device}' is not available here: this engine computes on the CPU only (device 'cpu').", nameof(device));
}
