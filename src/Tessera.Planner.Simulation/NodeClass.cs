namespace Tessera.Planner.Simulation;

/// <summary>Where a machine lives: it decides its links to other sites and how often it leaves the pool.</summary>
public enum NodeClass
{
    /// <summary>A machine in someone's home: residential internet, switched off or busy often.</summary>
    Home,

    /// <summary>A workstation or server in a lab or office: 10 GbE inside, rarely leaves.</summary>
    Lab,

    /// <summary>A cloud VM: datacenter network, leaves only when its host fails or it is pre-empted.</summary>
    Cloud,
}
