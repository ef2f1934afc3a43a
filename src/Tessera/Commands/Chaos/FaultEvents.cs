using System.Text.Json.Serialization;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>What the pool did about failures, from its events: nodes marked down, stage moves, session replays, alarms.</summary>
internal sealed record PoolReactions(int Downs, int Moves, int Replays, int Alarms)
{
    public static readonly PoolReactions None = new(0, 0, 0, 0);

    [JsonIgnore]
    public bool Any => Downs + Moves + Replays + Alarms > 0;

    public static PoolReactions operator +(PoolReactions a, PoolReactions b) => new(a.Downs + b.Downs, a.Moves + b.Moves, a.Replays + b.Replays, a.Alarms + b.Alarms);
}

/// <summary>
/// Reads the pool's events (pure): which of them are reactions to a failure, and which fault each belongs to (the one
/// whose window, from its start until the pool had healed, holds it); those in no window are false alarms.
/// </summary>
internal static class FaultEvents
{
    /// <summary>How long after a fault's heal its events still count as its own (a resumed-sessions event waits for the first token).</summary>
    public static readonly TimeSpan SettleMargin = TimeSpan.FromSeconds(5);

    /// <summary>Events that move stages: a pipeline rebuilt after a failure, or a plan improved on its own.</summary>
    private static readonly HashSet<string> MoveKinds = new(StringComparer.Ordinal) { "deployment-recovered", "plan-improved" };

    /// <summary>Events that name a failing stage or link (each is followed by a move).</summary>
    private static readonly HashSet<string> AlarmKinds = new(StringComparer.Ordinal) { "stage-stalled", "link-cut", "stage-unreachable" };

    public static PoolReactions Classify(EventView e) => e switch
    {
        { Kind: "node-state", ToState: "down" } => new(1, 0, 0, 0),
        _ when MoveKinds.Contains(e.Kind) => new(0, 1, 0, 0),
        { Kind: "sessions-resumed" } => new(0, 0, 1, 0),
        _ when AlarmKinds.Contains(e.Kind) => new(0, 0, 0, 1),
        _ => PoolReactions.None,
    };

    /// <summary>
    /// The reactions in each fault's window (same order as <paramref name="faults"/>) and those outside every window,
    /// counting only events from <paramref name="from"/> to <paramref name="to"/> (the run). A window reaches a few
    /// seconds past the heal, for events the coordinator writes once the pipeline serves again.
    /// </summary>
    public static (IReadOnlyList<PoolReactions> PerFault, PoolReactions Unprovoked) Attribute(IReadOnlyList<EventView> events, IReadOnlyList<FaultRecord> faults,
        DateTimeOffset from, DateTimeOffset to)
    {
        var perFault = faults.Select(_ => PoolReactions.None).ToArray();
        var unprovoked = PoolReactions.None;
        foreach (var e in events.Where(e => e.At >= from && e.At <= to))
        {
            var reaction = Classify(e);
            if (!reaction.Any)
                continue;
            var owner = -1;
            for (var i = 0; i < faults.Count; i++)
            {
                if (e.At >= faults[i].StartedUtc && e.At <= faults[i].SettledUtc + SettleMargin)
                    owner = i;
            }
            if (owner >= 0)
                perFault[owner] += reaction;
            else
                unprovoked += reaction;
        }
        return (perFault, unprovoked);
    }
}
