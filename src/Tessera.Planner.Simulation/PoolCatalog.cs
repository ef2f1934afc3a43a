namespace Tessera.Planner.Simulation;

/// <summary>Which machines a simulated pool is drawn from (<c>--catalog</c>).</summary>
public enum PoolCatalog
{
    /// <summary>Home desktops and Macs on residential internet.</summary>
    Home,

    /// <summary>Lab workstations and servers, racks of up to 16 on 10 GbE, labs joined by WAN.</summary>
    Lab,

    /// <summary>60 % home, 25 % lab, 15 % cloud machines.</summary>
    Mixed,

    /// <summary>Cloud GPU VMs in three regions.</summary>
    Cloud,
}

/// <summary>The draw weights of each catalogue, and the link a pool's planner assumes for pairs it has not measured.</summary>
public static class PoolMixes
{
    private static readonly (MachineSpec Machine, double Weight)[] HomeMix =
    [
        (HardwareCatalog.HomeDdr4, 25), (HardwareCatalog.HomeDdr5, 15), (HardwareCatalog.Home3060, 25),
        (HardwareCatalog.Home3090, 15), (HardwareCatalog.Home4090, 12), (HardwareCatalog.HomeMac, 8),
    ];

    private static readonly (MachineSpec Machine, double Weight)[] LabMix =
    [
        (HardwareCatalog.Lab2x3090, 35), (HardwareCatalog.LabA6000, 25), (HardwareCatalog.Lab4xP40, 25), (HardwareCatalog.Lab4xV100, 15),
    ];

    private static readonly (MachineSpec Machine, double Weight)[] CloudMix =
    [
        (HardwareCatalog.CloudT4, 25), (HardwareCatalog.CloudL4, 30), (HardwareCatalog.CloudA100, 30), (HardwareCatalog.CloudH100, 15),
    ];

    /// <summary>Machines and weights of <paramref name="catalog"/> (weights need not sum to 1).</summary>
    public static IReadOnlyList<(MachineSpec Machine, double Weight)> Of(PoolCatalog catalog) => catalog switch
    {
        PoolCatalog.Home => HomeMix,
        PoolCatalog.Lab => LabMix,
        PoolCatalog.Cloud => CloudMix,
        _ => [.. Scale(HomeMix, 0.60), .. Scale(LabMix, 0.25), .. Scale(CloudMix, 0.15)],
    };

    /// <summary>
    /// The link a pool of this catalogue has between most pairs of machines, which the simulated planner is given
    /// for pairs it has not measured (a pool of 10,000 machines measures its likely pairs, not all 50 million).
    /// </summary>
    public static LinkClass BackgroundLink(PoolCatalog catalog) => catalog switch
    {
        PoolCatalog.Lab => LinkCatalog.Wan,
        PoolCatalog.Cloud => LinkCatalog.CloudRegion,
        _ => LinkCatalog.HomeInternet,
    };

    private static IEnumerable<(MachineSpec, double)> Scale((MachineSpec Machine, double Weight)[] mix, double share)
    {
        var total = 0.0;
        foreach (var (_, w) in mix)
            total += w;
        foreach (var (m, w) in mix)
            yield return (m, share * w / total);
    }
}
