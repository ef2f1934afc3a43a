using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// Devices and machines of the simulated pools, from public specifications (docs/planner-simulation.md lists the
/// same table with its sources). Memory is what a deployment may use: all of a GPU's memory, half of a home
/// desktop's RAM (its owner is using the machine), three quarters of a Mac's unified memory (macOS lets the GPU wire
/// about that much), most of a server's RAM. The planner then keeps its own 10 % headroom on top.
/// </summary>
public static class HardwareCatalog
{
    private const long GB = 1_000_000_000;
    private const double Tera = 1e12;

    // GPUs: memory, bandwidth and FP32 (consumer) or dense FP16 tensor (data-centre) FLOP/s from NVIDIA's product pages and datasheets.
    public static readonly DeviceSpec Rtx3060 = new("RTX 3060 12GB", DeviceKind.Gpu, 12 * GB, 360, 12.7 * Tera, "NVIDIA GeForce RTX 3060 spec: 12 GB GDDR6, 192-bit, 15 Gbps = 360 GB/s; 12.7 TFLOPS FP32");
    public static readonly DeviceSpec Rtx3090 = new("RTX 3090", DeviceKind.Gpu, 24 * GB, 936, 35.6 * Tera, "NVIDIA GeForce RTX 3090 spec: 24 GB GDDR6X, 936 GB/s; 35.6 TFLOPS FP32");
    public static readonly DeviceSpec Rtx4090 = new("RTX 4090", DeviceKind.Gpu, 24 * GB, 1008, 82.6 * Tera, "NVIDIA GeForce RTX 4090 spec: 24 GB GDDR6X, 1008 GB/s; 82.6 TFLOPS FP32");
    public static readonly DeviceSpec RtxA6000 = new("RTX A6000", DeviceKind.Gpu, 48 * GB, 768, 38.7 * Tera, "NVIDIA RTX A6000 datasheet: 48 GB GDDR6, 768 GB/s; 38.7 TFLOPS FP32");
    public static readonly DeviceSpec TeslaP40 = new("Tesla P40", DeviceKind.Gpu, 24 * GB, 347, 11.8 * Tera, "NVIDIA Tesla P40 datasheet: 24 GB GDDR5, 346 GB/s; 11.8 TFLOPS FP32 (no fast FP16)");
    public static readonly DeviceSpec TeslaV100 = new("Tesla V100 32GB", DeviceKind.Gpu, 32 * GB, 900, 125 * Tera, "NVIDIA V100 SXM2 datasheet: 32 GB HBM2, 900 GB/s; 125 TFLOPS tensor");
    public static readonly DeviceSpec TeslaT4 = new("Tesla T4", DeviceKind.Gpu, 16 * GB, 320, 65 * Tera, "NVIDIA T4 datasheet: 16 GB GDDR6, 320 GB/s; 65 TFLOPS FP16 tensor");
    public static readonly DeviceSpec L4 = new("L4", DeviceKind.Gpu, 24 * GB, 300, 121 * Tera, "NVIDIA L4 datasheet: 24 GB GDDR6, 300 GB/s; 121 TFLOPS FP16 tensor (dense)");
    public static readonly DeviceSpec A100 = new("A100 80GB", DeviceKind.Gpu, 80 * GB, 2039, 312 * Tera, "NVIDIA A100 80GB SXM datasheet: 2039 GB/s HBM2e; 312 TFLOPS FP16 tensor (dense)");
    public static readonly DeviceSpec H100 = new("H100 80GB", DeviceKind.Gpu, 80 * GB, 3350, 989 * Tera, "NVIDIA H100 SXM datasheet: 80 GB HBM3, 3.35 TB/s; 989 TFLOPS FP16 tensor (dense)");

    // Apple silicon: one unified memory, offered as a GPU device.
    public static readonly DeviceSpec M2Max = new("Apple M2 Max 96GB", DeviceKind.Gpu, 72 * GB, 400, 13.6 * Tera, "Apple M2 Max: 96 GB unified, 400 GB/s; 38-core GPU 13.6 TFLOPS FP32; 75 % of memory usable by the GPU (macOS working-set limit)");

    // CPUs: dual-channel desktop memory (peak = channels x 8 bytes x transfer rate), AVX2/AVX-512 FMA peak.
    public static readonly DeviceSpec Ddr4Desktop = new("DDR4 desktop (32 GB)", DeviceKind.Cpu, 16 * GB, 51.2, 0.9 * Tera, "2 x DDR4-3200 channels = 51.2 GB/s; 8 cores x 3.5 GHz x 32 FLOP/cycle (AVX2 FMA); half of 32 GB offered");
    public static readonly DeviceSpec Ddr5Desktop = new("DDR5 desktop (64 GB)", DeviceKind.Cpu, 32 * GB, 89.6, 1.8 * Tera, "2 x DDR5-5600 channels = 89.6 GB/s; 16 cores x 3.5 GHz x 32 FLOP/cycle; half of 64 GB offered");
    public static readonly DeviceSpec Ddr4Server = new("DDR4 server (256 GB)", DeviceKind.Cpu, 192 * GB, 204.8, 2.0 * Tera, "8 x DDR4-3200 channels = 204.8 GB/s (EPYC 7002/7003 class); 192 of 256 GB offered");
    public static readonly DeviceSpec CloudCpu = new("cloud vCPU host (64 GB)", DeviceKind.Cpu, 48 * GB, 100, 1.5 * Tera, "a GPU VM's host memory share: assumed 100 GB/s, 48 of 64 GB offered");

    public static IReadOnlyList<DeviceSpec> Devices { get; } =
        [Rtx3060, Rtx3090, Rtx4090, RtxA6000, TeslaP40, TeslaV100, TeslaT4, L4, A100, H100, M2Max, Ddr4Desktop, Ddr5Desktop, Ddr4Server, CloudCpu];

    // Machines: a CPU and the GPUs a typical build of that kind has.
    public static readonly MachineSpec HomeDdr4 = new("home-ddr4", NodeClass.Home, [Ddr4Desktop]);
    public static readonly MachineSpec HomeDdr5 = new("home-ddr5", NodeClass.Home, [Ddr5Desktop]);
    public static readonly MachineSpec Home3060 = new("home-3060", NodeClass.Home, [Ddr4Desktop, Rtx3060]);
    public static readonly MachineSpec Home3090 = new("home-3090", NodeClass.Home, [Ddr4Desktop, Rtx3090]);
    public static readonly MachineSpec Home4090 = new("home-4090", NodeClass.Home, [Ddr5Desktop, Rtx4090]);
    public static readonly MachineSpec HomeMac = new("home-m2max", NodeClass.Home, [M2Max]);
    public static readonly MachineSpec Lab2x3090 = new("lab-2x3090", NodeClass.Lab, [Ddr4Server, Rtx3090, Rtx3090]);
    public static readonly MachineSpec LabA6000 = new("lab-a6000", NodeClass.Lab, [Ddr4Server, RtxA6000]);
    public static readonly MachineSpec Lab4xP40 = new("lab-4xp40", NodeClass.Lab, [Ddr4Server, TeslaP40, TeslaP40, TeslaP40, TeslaP40]);
    public static readonly MachineSpec Lab4xV100 = new("lab-4xv100", NodeClass.Lab, [Ddr4Server, TeslaV100, TeslaV100, TeslaV100, TeslaV100]);
    public static readonly MachineSpec CloudT4 = new("cloud-t4", NodeClass.Cloud, [CloudCpu, TeslaT4]);
    public static readonly MachineSpec CloudL4 = new("cloud-l4", NodeClass.Cloud, [CloudCpu, L4]);
    public static readonly MachineSpec CloudA100 = new("cloud-a100", NodeClass.Cloud, [CloudCpu, A100]);
    public static readonly MachineSpec CloudH100 = new("cloud-h100", NodeClass.Cloud, [CloudCpu, H100]);

    public static IReadOnlyList<MachineSpec> Machines { get; } =
        [HomeDdr4, HomeDdr5, Home3060, Home3090, Home4090, HomeMac, Lab2x3090, LabA6000, Lab4xP40, Lab4xV100, CloudT4, CloudL4, CloudA100, CloudH100];
}
