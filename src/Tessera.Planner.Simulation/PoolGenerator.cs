namespace Tessera.Planner.Simulation;

/// <summary>Draws pools from a catalogue: seeded, so the same seed and size give the same pool.</summary>
public static class PoolGenerator
{
    /// <summary>Cloud regions a cloud pool spans.</summary>
    public const int CloudRegions = 3;

    /// <summary>Most machines in one lab rack or cloud placement group.</summary>
    public const int LargestSite = 16;

    public static SimulatedPool Generate(PoolCatalog catalog, int nodeCount, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodeCount, 1);
        var mix = PoolMixes.Of(catalog);
        var total = 0.0;
        foreach (var (_, w) in mix)
            total += w;
        var random = SplitMix64.ForStream(seed, -1);
        var nodes = new List<SimulatedNode>(nodeCount);
        var sites = new List<SimulatedSite>();
        // The site being filled for each class, and how many machines it still takes.
        var open = new (int Site, int Left)[3];
        for (var c = 0; c < open.Length; c++)
            open[c] = (-1, 0);
        var cloudSites = 0;
        var width = Math.Max(5, nodeCount.ToString(System.Globalization.CultureInfo.InvariantCulture).Length);
        for (var i = 0; i < nodeCount; i++)
        {
            var machine = Draw(mix, total, random.NextDouble());
            var cls = (int)machine.Class;
            if (open[cls].Left == 0)
            {
                var (inside, size, region) = machine.Class switch
                {
                    // A household: one machine mostly; two or three share its Wi-Fi or gigabit LAN.
                    NodeClass.Home => (random.NextDouble() < 0.5 ? LinkCatalog.WiFi : LinkCatalog.Lan1G, HouseholdSize(random.NextDouble()), 0),
                    NodeClass.Lab => (LinkCatalog.Lan10G, 8 + (int)(random.NextDouble() * (LargestSite - 7)), 0),
                    _ => (LinkCatalog.CloudRegion, LargestSite, cloudSites++ % CloudRegions),
                };
                sites.Add(new SimulatedSite(machine.Class, inside, region));
                open[cls] = (sites.Count - 1, size);
            }
            nodes.Add(new SimulatedNode(i, "n" + i.ToString("D" + width, System.Globalization.CultureInfo.InvariantCulture), machine, open[cls].Site));
            open[cls].Left--;
        }
        return new SimulatedPool(catalog, nodes, sites);
    }

    private static int HouseholdSize(double u) => u < 0.7 ? 1 : u < 0.9 ? 2 : 3;

    private static MachineSpec Draw(IReadOnlyList<(MachineSpec Machine, double Weight)> mix, double total, double u)
    {
        var target = u * total;
        foreach (var (m, w) in mix)
        {
            if (target < w)
                return m;
            target -= w;
        }
        return mix[^1].Machine;
    }
}
