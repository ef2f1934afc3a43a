using Tessera.Engine.Backends;

namespace Tessera.Engine.Gpu;

/// <summary>
/// Backends for every device this program computes on: <c>cpu</c>, CUDA GPUs as <c>gpu0</c>, <c>gpu1</c>, ... (or
/// <c>cuda:0</c>), and <c>stand-in</c> (ILGPU's CPU accelerator running the GPU kernels, for checks without a GPU).
/// </summary>
public sealed class DeviceBackendFactory : IBackendFactory
{
    public static DeviceBackendFactory Instance { get; } = new();

    public IComputeBackend Create(string device, int threads)
    {
        if (ComputeDevices.IsCpu(device))
            return ComputeDevices.CreateCpu(threads);
        var local = ComputeDevices.Local(device);
        GpuDevice opened;
        try
        {
            opened = GpuDevice.Open(local);
        }
        catch (GpuUnavailableException e)
        {
            throw new ArgumentException($"Device '{device}' is not available: {e.Message}", nameof(device), e);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Unknown device '{device}': use cpu, gpu0, gpu1, ... (CUDA GPUs) or stand-in.", nameof(device), e);
        }
        try
        {
            return new GpuBackend(opened);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }
}
