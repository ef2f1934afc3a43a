using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>What a system sees while its day runs: the pool, the request, which machines are up, and its timeline.</summary>
public sealed class SimulationContext
{
    private readonly PriorityQueue<double, double> _wakes = new();

    public SimulationContext(SimulatedPool pool, PlanRequest request)
    {
        Pool = pool;
        Request = request;
        Evaluator = new PipelineEvaluator(pool, request);
        NodeUp = new bool[pool.Nodes.Count];
        Array.Fill(NodeUp, true);
    }

    public SimulatedPool Pool { get; }

    public PlanRequest Request { get; }

    public PipelineEvaluator Evaluator { get; }

    /// <summary>Which machines are in the pool now (the simulator updates it before telling the system).</summary>
    public bool[] NodeUp { get; }

    /// <summary>Set by the system's start.</summary>
    public RateTimeline Timeline { get; internal set; } = new(0);

    /// <summary>Times a failure took the system down or cost it capacity.</summary>
    public int Disruptions { get; set; }

    /// <summary>Re-plans, restarts, re-partitions or rebalances made.</summary>
    public int Repairs { get; set; }

    /// <summary>Weight bytes loaded onto machines after the start.</summary>
    public long BytesLoaded { get; set; }

    /// <summary>Asks to be woken (<see cref="SimulatedSystem.Wake"/>) at <paramref name="seconds"/>.</summary>
    public void WakeAt(double seconds) => _wakes.Enqueue(seconds, seconds);

    internal bool TryPeekWake(out double seconds) => _wakes.TryPeek(out seconds, out _);

    internal void PopWake() => _wakes.Dequeue();

    public bool IsUp(string deviceId) => NodeUp[Pool.DeviceNode[Pool.DeviceIndex(deviceId)]];
}
