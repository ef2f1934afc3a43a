namespace Tessera.Planner.Simulation;

/// <summary>One pool size for one model: the pool drawn and what every system did on it.</summary>
/// <param name="Model">The model profile's name, e.g. "llama-70b-q4".</param>
/// <param name="ModelGigabytes">Its weights in decimal GB.</param>
/// <param name="Nodes">Machines in the pool.</param>
/// <param name="Devices">Their devices (CPUs and GPUs).</param>
/// <param name="Departures">Departures drawn for the simulated time.</param>
/// <param name="Outcomes">One per system, in the order asked.</param>
public sealed record PoolOutcome(string Model, double ModelGigabytes, int Nodes, int Devices, int Departures, IReadOnlyList<SystemOutcome> Outcomes);

/// <summary>A whole simulation: the settings and, per model, one outcome per pool size.</summary>
public sealed record SimulationReport(SimulationSettings Settings, IReadOnlyList<PoolOutcome> Pools);

/// <summary>Runs every pool size, model and system of a <see cref="SimulationSettings"/>.</summary>
public static class SimulationRunner
{
    /// <param name="settings">What to run.</param>
    /// <param name="progress">Told of each pool as it finishes (the CLI shows it; null for none).</param>
    public static SimulationReport Run(SimulationSettings settings, Action<PoolOutcome>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var pools = new List<PoolOutcome>();
        foreach (var size in settings.Models)
        {
            var model = ModelCatalog.Profile(size, settings.Quantization);
            foreach (var count in settings.NodeCounts)
            {
                var pool = PoolGenerator.Generate(settings.Catalog, count, settings.Seed);
                var churn = ChurnSchedule.Draw(pool, settings.Hours, settings.Seed, settings.ChurnScale);
                var departures = 0;
                foreach (var e in churn)
                    departures += e.Up ? 0 : 1;
                var outcomes = new List<SystemOutcome>(settings.Systems.Count);
                foreach (var kind in settings.Systems)
                {
                    var request = settings.Request(model, kind == SystemKind.Tessera ? settings.Replicas : 1, kind == SystemKind.Tessera && settings.AutoReplicas);
                    outcomes.Add(DaySimulator.Run(DaySimulator.Create(kind), pool, request, churn, settings.Hours));
                }
                var outcome = new PoolOutcome(model.Name, model.TotalWeightBytes / 1e9, count, pool.Devices.Count, departures, outcomes);
                pools.Add(outcome);
                progress?.Invoke(outcome);
            }
        }
        return new SimulationReport(settings, pools);
    }
}
