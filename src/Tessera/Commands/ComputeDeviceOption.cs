using System.CommandLine;
using Tessera.Engine.Backends;

namespace Tessera.Cli.Commands;

/// <summary>The <c>--device</c> option of commands that compute a model here.</summary>
internal static class ComputeDeviceOption
{
    public static Option<string> Create() => new("--device")
    {
        Description = "Device to compute on: cpu (default), gpu0, gpu1, ... (CUDA GPUs, see tessera gpu list), or stand-in (the GPU kernels on ILGPU's CPU accelerator: slow, for checks).",
        DefaultValueFactory = _ => ComputeDevices.Cpu,
    };
}
