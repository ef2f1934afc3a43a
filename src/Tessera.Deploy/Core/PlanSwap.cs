namespace Tessera.Deploy;

/// <summary>A stage to stop: its node, its index in the deployment, its layers and device (the agent may run another stage at that index).</summary>
internal readonly record struct StageStop(string NodeId, int Index, int FirstLayer, int LastLayer, string Device);

/// <summary>
/// What changes when a deployment's stages are replaced by a new plan's: a stage that keeps its node, replica,
/// layers and file at the same position keeps running; every other new stage starts; every old stage not kept stops
/// (except on nodes that cannot be told). Pure: stage objects are opaque to it.
/// </summary>
internal static class PlanSwap
{
    /// <summary>
    /// The new stages in order, each the old one at that position when it is the same work, else made by
    /// <paramref name="start"/>; and the old stages to stop, by position.
    /// </summary>
    public static (T[] Stages, List<StageStop> Stops) Swap<T>(IReadOnlyList<T> old, IReadOnlyList<StoredStage> next, Func<T, StoredStage> stored,
        Func<StoredStage, T> start, IReadOnlySet<string> deadNodes) where T : class
    {
        var stages = new T[next.Count];
        for (var i = 0; i < stages.Length; i++)
            stages[i] = i < old.Count && stored(old[i]).SameWorkAs(next[i]) ? old[i] : start(next[i]);
        return (stages, Stops(old, stages, stored, deadNodes));
    }

    /// <summary>
    /// The old stages that <paramref name="kept"/> does not hold, by their old position. The agent keys a stage by index,
    /// layers and device, so a replaced stage runs on beside its replacement (even at the same index on the same node) until
    /// it is stopped.
    /// </summary>
    public static List<StageStop> Stops<T>(IReadOnlyList<T> old, IReadOnlyCollection<T> kept, Func<T, StoredStage> stored, IReadOnlySet<string> deadNodes)
        where T : class
    {
        var keep = kept.ToHashSet(ReferenceEqualityComparer.Instance);
        var stops = new List<StageStop>();
        for (var i = 0; i < old.Count; i++)
        {
            var s = stored(old[i]);
            if (!keep.Contains(old[i]) && !deadNodes.Contains(s.NodeId))
                stops.Add(new StageStop(s.NodeId, i, s.FirstLayer, s.LastLayer, s.Device));
        }
        return stops;
    }
}
