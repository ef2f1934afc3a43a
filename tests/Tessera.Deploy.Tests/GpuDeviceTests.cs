using System.Text.Json;
using Tessera.Planner;
using Tessera.Pool.Membership;

namespace Tessera.Deploy.Tests;

/// <summary>
/// GPUs as the deployment controller sees them: each measured GPU is a device of its own (NODE/gpuN) beside its node's
/// CPU, plans place stages on it, its agent is told which device to compute on, and placements can name it.
/// </summary>
public sealed class GpuDeviceTests
{
    private const long GiB = 1L << 30;

    private static PoolNode Node(string id, params PoolGpu[] gpus) =>
        new(id, id, NodeState.Ready, false, true, "10.0.0.1", 4 * GiB, 20) { Gpus = gpus };

    [Fact]
    public void Cluster_OffersEachMeasuredGpu_AsADeviceOfItsOwn_WithWhatOtherDeploymentsLeaveOfItsMemory()
    {
        var gpu0 = new PoolGpu("gpu0", "RTX", 8 * GiB, 6 * GiB, 900);
        var unusable = new PoolGpu("gpu1", "old card", 8 * GiB, 8 * GiB, 0); // its agent's backend could not measure it
        var nodes = new[] { Node("a", gpu0, unusable) };
        // 3 GiB held there by stages (2 of this deployment's, loaded: the sample lacks them), 1 GiB of them another deployment's
        var holdings = new DeviceHoldings(new Dictionary<string, long> { ["a/gpu0"] = GiB }, new Dictionary<string, long> { ["a/gpu0"] = 3 * GiB });

        var cluster = PoolCluster.Build(nodes, holdings);

        Assert.Equal(["a/cpu", "a/gpu0"], cluster.Devices.Select(d => d.Id));
        var device = cluster.Devices[1];
        Assert.Equal((DeviceKind.Gpu, "a", 900.0), (device.Kind, device.NodeId, device.MemoryBandwidthGBps));
        Assert.Equal(7 * GiB, device.FreeMemoryBytes); // 6 free + 3 held - 1 of the other deployment
        // the same holdings before the stages loaded (the sample still shows 8 GiB free) leave the same memory
        Assert.Equal(7 * GiB, PoolCluster.Build([Node("a", gpu0 with { MemoryFreeBytes = 8 * GiB })], holdings).Devices[1].FreeMemoryBytes);
        // another program's 2 GiB stay counted as used
        Assert.Equal(5 * GiB, PoolCluster.Build([Node("a", gpu0 with { MemoryFreeBytes = 3 * GiB })], holdings).Devices[1].FreeMemoryBytes);
        Assert.Equal(new Dictionary<string, double> { ["a/cpu"] = 20, ["a/gpu0"] = 900, ["a/gpu1"] = 0 }, PoolCluster.ProbedSpeeds(nodes));
    }

    [Fact]
    public async Task APlan_PutsStagesOnTheFastGpu_TellsItsAgentTheDevice_AndAfterARestartReattachesOnIt()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("g", speedGBps: 5, gpus: [new PoolGpu("gpu0", "RTX", 8 * GiB, 8 * GiB, 500)]);
        pool.Agents.Join("c", speedGBps: 5);

        await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2), default);
        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "the deployment ready");

        var stage = Assert.Single(pool.Controller.Find("m")!.Stages);
        Assert.Equal(("g", "gpu0"), (stage.NodeName, stage.Device));
        Assert.Equal("gpu0", Assert.Single(pool.Agents.Starts("g")).Device);
        Assert.Empty(pool.Agents.Starts("c"));

        // the device is stored with the plan: a restarted coordinator reattaches to the stage running on the GPU (the
        // same stage at the same endpoint), where a command without the device would have started a second one
        var running = pool.Agents.Running("g");
        await pool.RestartAsync();
        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "reattached");
        Assert.Equal(("gpu0", running.Values.Single()), (Assert.Single(pool.Controller.Find("m")!.Stages).Device, pool.Controller.Find("m")!.Stages[0].Endpoint));
        Assert.Equal(running, pool.Agents.Running("g"));
    }

    [Fact]
    public async Task APlacement_NamesAGpuAsNodeSlashDevice_AndAGpuTheNodeDoesNotOffer_IsRefused()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("g", gpus: [new PoolGpu("gpu0", "RTX", 8 * GiB, 8 * GiB, 500), new PoolGpu("gpu1", "old card", 8 * GiB, 8 * GiB, 0)]);
        pool.Agents.Join("c");

        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, Placement: "g/GPU0:0-4,c:4-8"), default);
        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "the deployment ready");

        Assert.Equal([("g", "gpu0"), ("c", "cpu")], created.Stages.Select(s => (s.NodeName, s.Device)));
        Assert.Equal("gpu0", Assert.Single(pool.Agents.Starts("g")).Device);
        Assert.Equal("cpu", Assert.Single(pool.Agents.Starts("c")).Device);
        var error = await Assert.ThrowsAsync<DeploymentException>(() =>
            pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "n", Context: 512, MaxSessions: 2, Placement: "g/gpu1:0-8"), default));
        Assert.Equal("Node g has no usable device 'gpu1': it offers cpu, gpu0 (see `tessera nodes`).", error.Message);
    }

    [Fact]
    public void AStageMovedToAnotherDeviceOfItsNode_IsNewWork_AndItsStopNamesTheOldDevice()
    {
        var cpu = new StoredStage(0, 0, "n", "n", 0, 8, 100, 10, 1, "f", 1, "/f");
        var gpu = cpu with { Device = "gpu0" };

        Assert.False(cpu.SameWorkAs(gpu));
        Assert.Equal(("n/cpu", "n/gpu0"), (cpu.DeviceId, gpu.DeviceId));
        var (stages, stops) = PlanSwap.Swap([cpu], [gpu], s => s, s => s, new HashSet<string>());
        Assert.Same(gpu, stages[0]);
        Assert.Equal([new StageStop("n", 0, 0, 8, "cpu")], stops);
    }

    [Fact]
    public void AStageStoredBeforeGpus_ReadsAsACpuStage_AndTheDeviceIsStoredButNotItsId()
    {
        var options = JsonSerializerOptions.Web;
        var json = JsonSerializer.Serialize(new StoredStage(0, 0, "n", "n", 0, 8, 100, 10, 1, "f", 1, "/f") { Device = "gpu0" }, options);
        Assert.Contains("\"device\":\"gpu0\"", json);
        Assert.DoesNotContain("deviceId", json);

        var old = JsonSerializer.Deserialize<StoredStage>(json.Replace(",\"device\":\"gpu0\"", ""), options)!;

        Assert.Equal(("cpu", "n/cpu"), (old.Device, old.DeviceId));
    }

    [Fact]
    public void ASpeedDriftOnAGpu_IsTheGpusOwn_AndNamedWithItsDevice()
    {
        var stage = new StoredStage(0, 0, "a", "a", 0, 8, 1, 1, 1, "sha", 1, "p") { Device = "gpu0" };
        var probed = new Dictionary<string, double> { ["a/cpu"] = 20, ["a/gpu0"] = 900 };

        var (device, words) = Assert.Single(SpeedDrift.Find([stage], probed, probed, new Dictionary<string, double> { ["a/cpu"] = 20, ["a/gpu0"] = 300 },
            new HashSet<string> { "a/gpu0" }, 1.5));

        Assert.Equal("a/gpu0", device);
        Assert.Equal("stage 0 on node a (gpu0) is 3.0x slower than planned: 300 GB/s from its step times, planned with its probe's 900 GB/s", words);
    }
}
