using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>What one system did on one pool.</summary>
/// <param name="System">Which system.</param>
/// <param name="Fits">False when the system cannot place the model on the whole pool.</param>
/// <param name="Failure">Why it does not fit, when it does not.</param>
/// <param name="SingleStreamTokensPerSecond">Predicted speed of one session at the start.</param>
/// <param name="SaturatedTokensPerSecond">Predicted tokens/s with every stage busy at the start.</param>
/// <param name="NodesUsed">Machines holding a stage (Petals: serving a block) at the start.</param>
/// <param name="FractionOfNodesUsed">NodesUsed over the pool's machines.</param>
/// <param name="Disruptions">Departures that cost the system a pipeline or capacity.</param>
/// <param name="Repairs">Re-plans, restarts, re-partitions, rebalances and improvements made.</param>
/// <param name="DownSeconds">Seconds during which it served nothing.</param>
/// <param name="TokensServed">Tokens served over the simulated time at saturation.</param>
/// <param name="TokensLost">Tokens it would have served at its starting rate, less those served, where it served less.</param>
/// <param name="FractionLost">TokensLost over what the starting rate would have served (0.05 = 5 % of the day's tokens).</param>
/// <param name="TokensPerSecondLost">TokensLost over the simulated seconds: the mean rate lost to failures.</param>
/// <param name="GigabytesLoaded">Weights loaded onto machines after the start (decimal GB).</param>
/// <param name="TokenLatencyP99Milliseconds">Predicted 99th-percentile time per token of one session at the start, with the links' jitter.</param>
public sealed record SystemOutcome(
    SystemKind System,
    bool Fits,
    string? Failure,
    double SingleStreamTokensPerSecond,
    double SaturatedTokensPerSecond,
    int NodesUsed,
    double FractionOfNodesUsed,
    int Disruptions,
    int Repairs,
    double DownSeconds,
    double TokensServed,
    double TokensLost,
    double FractionLost,
    double TokensPerSecondLost,
    double GigabytesLoaded,
    double TokenLatencyP99Milliseconds = 0);

/// <summary>Runs one system through a pool's day of departures and returns, the events in time order.</summary>
public static class DaySimulator
{
    public static SystemOutcome Run(SimulatedSystem system, SimulatedPool pool, PlanRequest request, IReadOnlyList<ChurnEvent> churn, double hours)
    {
        var context = new SimulationContext(pool, request);
        var (prediction, failure) = system.Start(context);
        var end = hours * 3600;
        if (prediction is null)
            return new SystemOutcome(system.Kind, false, failure, 0, 0, 0, 0, 0, 0, end, 0, 0, 0, 0, 0);

        var tick = system.TickSeconds > 0 ? system.TickSeconds : double.PositiveInfinity;
        var nextTick = tick;
        var next = 0;
        while (true)
        {
            var atEvent = next < churn.Count ? churn[next].Seconds : double.PositiveInfinity;
            var atWake = context.TryPeekWake(out var w) ? w : double.PositiveInfinity;
            var now = Math.Min(atEvent, Math.Min(atWake, nextTick));
            if (now >= end)
                break;
            // At one instant: repairs that complete first, then the pool's change, then the periodic check.
            if (atWake <= now)
            {
                context.PopWake();
                system.Wake(context, now);
            }
            else if (atEvent <= now)
            {
                var e = churn[next++];
                context.NodeUp[e.Node] = e.Up;
                if (e.Up)
                    system.NodeUp(context, e.Node, now);
                else
                    system.NodeDown(context, e.Node, now);
            }
            else
            {
                system.Tick(context, now);
                nextTick += tick;
            }
        }
        context.Timeline.Finish(end);
        var lost = context.Timeline.TokensLost;
        return new SystemOutcome(system.Kind, true, null, prediction.SingleStreamTokensPerSecond, prediction.SaturatedTokensPerSecond,
            prediction.NodesUsed, (double)prediction.NodesUsed / pool.Nodes.Count, context.Disruptions, context.Repairs,
            context.Timeline.DownSeconds, context.Timeline.TokensServed, lost,
            prediction.SaturatedTokensPerSecond * end > 0 ? lost / (prediction.SaturatedTokensPerSecond * end) : 0, end > 0 ? lost / end : 0, context.BytesLoaded / 1e9,
            prediction.TokenLatencyP99Seconds * 1000);
    }

    /// <summary>A fresh instance of <paramref name="kind"/> (systems keep state for one day).</summary>
    public static SimulatedSystem Create(SystemKind kind) => kind switch
    {
        SystemKind.Tessera => new TesseraPlannerSystem(),
        SystemKind.LlamaCppRpc => new LlamaCppRpcBaseline(),
        SystemKind.ExoRing => new ExoRingBaseline(),
        _ => new PetalsSwarmBaseline(),
    };
}
