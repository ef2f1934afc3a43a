using Tessera.Planner;

namespace Tessera.Planner.Simulation.Tests;

/// <summary>Hand-made pools where the best answer is known.</summary>
internal static class Pools
{
    public const long GB = 1_000_000_000;

    public static DeviceSpec Gpu(double memoryGb, double bandwidthGBps) =>
        new($"gpu {memoryGb} GB", DeviceKind.Gpu, (long)(memoryGb * GB), bandwidthGBps, 0, "test");

    public static DeviceSpec Cpu(double memoryGb, double bandwidthGBps) =>
        new($"cpu {memoryGb} GB", DeviceKind.Cpu, (long)(memoryGb * GB), bandwidthGBps, 0, "test");

    /// <summary>One machine per entry, all in one lab rack (10 GbE), ids n00000, n00001, ...</summary>
    public static SimulatedPool Lab(params DeviceSpec[][] machines)
    {
        var nodes = new List<SimulatedNode>();
        for (var i = 0; i < machines.Length; i++)
            nodes.Add(new SimulatedNode(i, "n" + i.ToString("D5", System.Globalization.CultureInfo.InvariantCulture), new MachineSpec("test", NodeClass.Lab, machines[i]), 0));
        return new SimulatedPool(PoolCatalog.Lab, nodes, [new SimulatedSite(NodeClass.Lab, LinkCatalog.Lan10G, 0)]);
    }

    /// <summary>A model of <paramref name="layers"/> blocks of <paramref name="layerGb"/> GB, no embedding or head, a small KV cache.</summary>
    public static PlanRequest Request(int layers, double layerGb) => new()
    {
        Model = ModelProfile.Uniform("test", layers, (long)(layerGb * GB), hiddenSize: 4096, kvWidth: 256, vocabSize: 0),
        ContextLength = 512,
        MaxSessions = 1,
    };

    public static SimulationContext Context(SimulatedPool pool, PlanRequest request) => new(pool, request);
}
