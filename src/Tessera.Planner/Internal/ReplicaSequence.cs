using System.Text;

namespace Tessera.Planner.Internal;

/// <summary>
/// Replicas planned in turn, each on the devices the ones before left (preferred devices first when the request
/// names some). Planning R replicas and trying 1, 2, ... R replicas are the same walk, so automatic replicas cost
/// no more than asking for the count they end at.
/// </summary>
internal sealed class ReplicaSequence(CostModel cost, ClusterDescription cluster, List<DeviceInfo> eligible, HashSet<string> preferred, int? extraStages = null)
{
    private readonly DeviceIndex _index = new(cost, eligible);

    /// <summary>Pipelines planned so far, replica by replica.</summary>
    public List<PipelinePlan> Pipelines { get; } = [];

    /// <summary>Most candidate devices any replica's search looked at.</summary>
    public int Considered { get; private set; }

    /// <summary>Devices not yet taken.</summary>
    public List<DeviceInfo> Left() => _index.Left();

    /// <summary>The next replica's pipeline (added to <see cref="Pipelines"/>), or null when it does not fit on what is left.</summary>
    public PipelinePlan? Next(StringBuilder? notes = null)
    {
        var r = Pipelines.Count;
        PlacementSearch.Outcome? outcome = null;
        if (preferred.Count > 0)
        {
            outcome = PlacementSearch.Search(cost, cluster, _index.Left().Where(d => preferred.Contains(d.Id)).ToList(), r, extraStages: extraStages);
            if (outcome is null)
                notes?.Append(r == 0 ? "The preferred devices cannot hold it alone, so other devices are used too. " : $"Replica {r + 1} also uses devices that are not preferred. ");
        }
        outcome ??= PlacementSearch.Search(cost, cluster, _index, r, extraStages: extraStages);
        if (outcome is null)
            return null;
        Considered = Math.Max(Considered, outcome.CandidatesConsidered);
        Pipelines.Add(outcome.Pipeline);
        _index.Take(outcome.Pipeline);
        return outcome.Pipeline;
    }
}
