using Tessera.Planner;

namespace Tessera.Planner.Tests;

/// <summary>Builders for hand-made clusters and models; sizes in decimal GB like the planner's messages.</summary>
internal static class Fixtures
{
    public const long GB = 1_000_000_000;
    public const long MB = 1_000_000;

    /// <summary>No scratch: memory arithmetic in tests is then exactly weights + KV.</summary>
    public static readonly PlannerOptions NoScratch = PlannerOptions.Default with { StageScratchBytes = 0 };

    public static DeviceInfo Device(string id, double freeGb, double bandwidthGBps, string? node = null, DeviceKind kind = DeviceKind.Cpu) =>
        new(id, node ?? "node-" + id, node ?? "node-" + id, kind, (long)(freeGb * GB), bandwidthGBps);

    public static ClusterDescription Cluster(params DeviceInfo[] devices) => new() { Devices = devices };

    /// <summary>A model of <paramref name="layers"/> blocks of <paramref name="layerMb"/> MB, no embedding or head, small KV.</summary>
    public static ModelProfile Model(int layers = 32, long layerMb = 100, long embeddingMb = 0, long headMb = 0, int kvWidth = 256, int vocab = 0) =>
        ModelProfile.Uniform("test-model", layers, layerMb * MB, hiddenSize: 2048, kvWidth: kvWidth, vocabSize: vocab,
            embeddingBytes: embeddingMb * MB, headBytes: headMb * MB);

    public static PlanRequest Request(ModelProfile model, int context = 512, int sessions = 1, double headroom = 0) =>
        new() { Model = model, ContextLength = context, MaxSessions = sessions, MemoryHeadroomFraction = headroom };

    public static Plan PlanOrFail(PlanRequest request, ClusterDescription cluster, PlannerOptions? options = null)
    {
        var result = PoolPlanner.Plan(request, cluster, options ?? NoScratch);
        Assert.True(result.Succeeded, result.Failure?.Message);
        return result.Plan!;
    }

    /// <summary>Every layer once, in order, and every stage within its device's memory.</summary>
    public static void AssertValid(Plan plan, ClusterDescription cluster)
    {
        foreach (var p in plan.Pipelines)
        {
            var next = 0;
            foreach (var s in p.Stages)
            {
                Assert.Equal(next, s.Layers.First);
                Assert.True(s.Layers.Count > 0, $"stage {s.Index} is empty");
                Assert.True(s.MemoryBytes <= s.AvailableBytes, $"stage {s.Index} needs {s.MemoryBytes} but {s.DeviceId} has {s.AvailableBytes}");
                Assert.NotNull(cluster.FindDevice(s.DeviceId));
                next = s.Layers.Last;
            }
            Assert.Equal(plan.LayerCount, next);
        }
        var devices = plan.DeviceIds.ToList();
        Assert.Equal(devices.Count, devices.Distinct().Count());
    }
}
