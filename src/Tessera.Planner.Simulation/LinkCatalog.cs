namespace Tessera.Planner.Simulation;

/// <summary>
/// The kinds of links in simulated pools (docs/planner-simulation.md has the table with sources). Two devices of one
/// machine are not here: the planner costs them as <see cref="PlannerOptions.SameNodeLink"/> (0.05 ms, 10 GB/s).
/// </summary>
public static class LinkCatalog
{
    private const double MB = 1e6;

    /// <summary>Gigabit Ethernet in one home or office: ~940 Mbit/s of TCP goodput, sub-millisecond RTT.</summary>
    public static readonly LinkClass Lan1G = new("LAN 1 GbE", 0.3, 0.2, 117 * MB, 0, "1000BASE-T: 940 Mbit/s TCP goodput; typical switched-LAN ping 0.2-0.5 ms");

    /// <summary>10 GbE in a lab rack: ~9.4 Gbit/s goodput.</summary>
    public static readonly LinkClass Lan10G = new("LAN 10 GbE", 0.1, 0.05, 1170 * MB, 0, "10GBASE-T/SFP+: 9.4 Gbit/s TCP goodput; ping ~0.1 ms");

    /// <summary>Home Wi-Fi (802.11ac/ax, one room away): fast on paper, jittery in practice.</summary>
    public static readonly LinkClass WiFi = new("Wi-Fi", 3, 15, 40 * MB, 0.002, "802.11ac/ax real-world 300 Mbit/s; ping 2-5 ms with p99 spikes of 10-30 ms (contention, power save)");

    /// <summary>Two VMs in one cloud region (same or neighbouring zones): ~10 Gbit/s per flow.</summary>
    public static readonly LinkClass CloudRegion = new("cloud region", 0.5, 0.2, 1250 * MB, 0, "intra-region VM-to-VM: 0.2-1 ms RTT; 10 Gbit/s per flow (AWS/GCP per-flow limits)");

    /// <summary>Between labs or cloud regions on one continent, over research or commercial backbones.</summary>
    public static readonly LinkClass Wan = new("WAN between sites", 30, 5, 125 * MB, 0.0005, "same-continent inter-region RTT 20-60 ms (cloud providers' published latency matrices); 1 Gbit/s per flow assumed");

    /// <summary>
    /// Two homes (or a home and anywhere else) over residential broadband: the upload side limits it, the latency is
    /// the sum of two access networks, and bufferbloat makes the p99 large.
    /// </summary>
    public static readonly LinkClass HomeInternet = new("home internet", 40, 30, 2.5 * MB, 0.01, "residential broadband: 20 Mbit/s upload, 20-60 ms RTT between homes, p99 jitter ~30 ms (bufferbloat), ~1 % loss");

    public static IReadOnlyList<LinkClass> All { get; } = [Lan1G, Lan10G, WiFi, CloudRegion, Wan, HomeInternet];

    /// <summary>
    /// How fast a machine of this class loads layers that moved to it (weights from peers, a lab cache or the
    /// provider's object store): home downloads at 100 Mbit/s, a lab over 10 GbE, a cloud VM at 10 Gbit/s.
    /// </summary>
    public static double LoadBytesPerSecond(NodeClass nodeClass) => nodeClass switch
    {
        NodeClass.Home => 12.5 * MB,
        NodeClass.Lab => 1170 * MB,
        _ => 1250 * MB,
    };

    /// <summary>
    /// The link a machine of this class reaches the rest of a pool through, for rough estimates before a path is
    /// known (a Petals client's choice of servers): a home's internet, a lab's WAN, a cloud VM's region network.
    /// </summary>
    public static LinkClass AccessLink(NodeClass nodeClass) => nodeClass switch
    {
        NodeClass.Home => HomeInternet,
        NodeClass.Lab => Wan,
        _ => CloudRegion,
    };
}
