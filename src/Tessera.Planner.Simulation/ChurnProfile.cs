namespace Tessera.Planner.Simulation;

/// <summary>
/// How often machines of a class leave the pool and for how long. Departures are a Poisson process per machine;
/// time away is exponential. Assumptions, not measurements (no public trace covers home GPU pools); the docs say so.
/// </summary>
/// <param name="DeparturesPerDay">Mean departures of one machine in 24 hours.</param>
/// <param name="MeanHoursAway">Mean time before it comes back.</param>
public sealed record ChurnProfile(double DeparturesPerDay, double MeanHoursAway)
{
    /// <summary>A home machine: switched off at night, asleep, taken over by a game: about 3 times a day, 2 h away.</summary>
    public static readonly ChurnProfile Home = new(3, 2);

    /// <summary>A lab machine: reboots, maintenance, someone else's job: about once in 5 days, 30 min away.</summary>
    public static readonly ChurnProfile Lab = new(0.2, 0.5);

    /// <summary>An on-demand cloud VM: host failure or retirement, about once in 50 days; replaced in 15 min.</summary>
    public static readonly ChurnProfile Cloud = new(0.02, 0.25);

    public static ChurnProfile For(NodeClass nodeClass) => nodeClass switch
    {
        NodeClass.Home => Home,
        NodeClass.Lab => Lab,
        _ => Cloud,
    };
}
