namespace Tessera.Planner;

/// <summary>
/// Deterministic, realistic pools of any size for benchmarks, tests and what-if simulations: machines in sites of
/// <see cref="NodesPerSite"/>, each with one CPU and, on a third of them, one to eight GPUs from a spread of real
/// classes (8 GB at 256 GB/s up to 80 GB at 3,350 GB/s), and links measured only between some pairs (each machine to
/// the next few of its site and one machine of another site), as a pool that cannot measure every pair of 10,000
/// machines has: every other pair is left to <see cref="PlannerOptions.UnknownLink"/>. A few links are jittery and a
/// few could not be crossed. The same arguments always give the same pool.
/// </summary>
public static class SyntheticPool
{
    /// <summary>Machines per site: links inside a site are sub-millisecond, between sites tens of milliseconds.</summary>
    public const int NodesPerSite = 50;

    /// <summary>Measured links from each machine to the next machines of its site.</summary>
    public const int LinksPerNode = 3;

    // (free GB, GB/s, FLOP/s or 0 when the pool did not measure them): consumer, workstation and datacentre cards.
    private static readonly (double Gb, double GBps, double Flops)[] GpuClasses =
    [
        (8, 256, 0), (12, 360, 0), (16, 448, 0), (24, 936, 71e12), (24, 1008, 82e12), (48, 864, 0), (80, 2039, 312e12), (80, 3350, 0),
    ];

    /// <summary>A pool of exactly <paramref name="devices"/> devices drawn from <paramref name="seed"/>.</summary>
    public static ClusterDescription Generate(int devices, int seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(devices, 1);
        var rng = new SplitMix64((ulong)seed);
        var list = new List<DeviceInfo>(devices);
        var nodes = new List<string>();
        while (list.Count < devices)
        {
            var node = $"n{nodes.Count:00000}";
            nodes.Add(node);
            // A CPU of 8-256 GB free at 20-200 GB/s: laptops to dual-socket servers.
            var cpuGb = 8 << (int)rng.Next(6);
            list.Add(new DeviceInfo(node + "/cpu", node, node, DeviceKind.Cpu, (long)(cpuGb * 1e9), 20 + rng.Next(181)));
            if (rng.Next(3) != 0)
                continue;
            var gpus = 1 + (int)rng.Next(8);
            var (gb, gbps, flops) = GpuClasses[rng.Next((ulong)GpuClasses.Length)];
            for (var g = 0; g < gpus && list.Count < devices; g++)
            {
                // Free memory varies: other work holds part of some cards.
                var free = gb * (0.6 + 0.4 * rng.NextDouble());
                list.Add(new DeviceInfo($"{node}/gpu{g}", node, node, DeviceKind.Gpu, (long)(free * 1e9), gbps, flops > 0 ? flops : null));
            }
        }

        var links = new List<LinkInfo>(nodes.Count * (LinksPerNode + 1));
        for (var i = 0; i < nodes.Count; i++)
        {
            var site = i / NodesPerSite;
            for (var step = 1; step <= LinksPerNode; step++)
            {
                var j = i + step;
                if (j >= nodes.Count || j / NodesPerSite != site)
                    break;
                var rtt = 0.1 + 0.9 * rng.NextDouble();
                // One link in twenty is jittery (a busy switch, Wi-Fi), one in two hundred could not be crossed.
                var roll = rng.Next(200);
                var jitter = roll < 10 ? 5 + 20 * rng.NextDouble() : 0.05 * rng.NextDouble();
                links.Add(roll == 199 ? new LinkInfo(nodes[i], nodes[j], 10_000, 0, 0) : new LinkInfo(nodes[i], nodes[j], rtt, jitter, 1.25e8 * (1 + 7 * rng.NextDouble())));
            }
            var sites = (nodes.Count + NodesPerSite - 1) / NodesPerSite;
            if (sites > 1)
            {
                var other = (int)rng.Next((ulong)nodes.Count);
                if (other / NodesPerSite != site)
                    links.Add(new LinkInfo(nodes[i], nodes[other], 10 + 70 * rng.NextDouble(), 2 * rng.NextDouble(), 1.25e7 * (1 + 7 * rng.NextDouble())));
            }
        }
        return new ClusterDescription { Devices = list, Links = links, CoordinatorNodeId = nodes[0] };
    }
}
