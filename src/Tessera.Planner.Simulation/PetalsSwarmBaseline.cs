using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// Petals: every device with room for a block runs a server; a server takes as many consecutive blocks as its memory
/// holds, where the swarm is weakest (the window whose least-served block has the least throughput, Petals'
/// block choice), in the order the servers join. A client routes each session through the fastest chain of
/// servers. Modelled: the swarm's capacity is, per block, the sum of its servers' tokens/s (a server's is
/// 1 / its span's time per token, capped by its uplink), and the swarm serves as fast as its least-served block; a
/// server that leaves takes its capacity with it; a returning server picks its blocks again and serves once they
/// are loaded; when a block has no server left, every <see cref="RebalanceCheckSeconds"/> the most redundant server
/// moves to cover it. Left out: Petals' rebalancing for throughput alone, its client-side stall while a session
/// re-routes (about <see cref="DetectionSeconds"/>; not part of saturated throughput), FLOP limits of servers, and
/// the client's own embedding and head (counted on the first and last server of a chain, where Tessera puts them; each
/// server keeps room for them).
/// </summary>
public sealed class PetalsSwarmBaseline : SimulatedSystem
{
    /// <summary>Petals servers check whether to move their blocks every 120 s on average (mean_balance_check_period).</summary>
    public const double RebalanceCheckSeconds = 120;

    /// <summary>Assumed: a client gives up on a silent server after about 30 s and re-routes its session.</summary>
    public const double DetectionSeconds = 30;

    private double[] _readPrefix = [];
    private double[] _blockThroughput = [];
    private int[] _blocks = [];         // per device: blocks its memory holds (0: not a server)
    private int[] _start = [];          // per device: first block of its span
    private double[] _capacity = [];    // per device: tokens/s when serving
    private bool[] _serving = [];
    private double[] _servingFrom = []; // per device: when a loading server starts serving (infinity: not loading)

    public override SystemKind Kind => SystemKind.PetalsSwarm;

    public override double TickSeconds => RebalanceCheckSeconds;

    public override (PipelinePrediction? Prediction, string? Failure) Start(SimulationContext context)
    {
        var request = context.Request;
        var model = request.Model;
        var layers = model.LayerCount;
        // Bytes per token of each block as the planner counts them (its weights read, its KV at the predicted fill; the
        // head with the last), through the planner's own function.
        _readPrefix = new double[layers + 1];
        for (var i = 0; i < layers; i++)
            _readPrefix[i + 1] = _readPrefix[i] + PoolPlanner.StageReadBytes(request, new LayerSpan(i, i + 1), context.Pool.PlannerOptions);
        var devices = context.Pool.Devices;
        _blockThroughput = new double[layers];
        _blocks = new int[devices.Count];
        _start = new int[devices.Count];
        _capacity = new double[devices.Count];
        _serving = new bool[devices.Count];
        _servingFrom = new double[devices.Count];
        Array.Fill(_servingFrom, double.PositiveInfinity);

        long largestBlock = 0;
        foreach (var b in model.LayerWeightBytes)
            largestBlock = Math.Max(largestBlock, b);
        var perBlock = largestBlock + model.KvBytes(1, request.ContextLength, request.MaxSessions);
        var reserve = context.Pool.PlannerOptions.StageScratchBytes + model.EmbeddingBytes + model.HeadBytes + model.SharedBytes
            + 4L * model.VocabSize * request.MaxSessions;
        for (var d = 0; d < devices.Count; d++)
        {
            var available = devices[d].FreeMemoryBytes - (long)Math.Ceiling(devices[d].FreeMemoryBytes * request.MemoryHeadroomFraction);
            _blocks[d] = (int)Math.Clamp((available - reserve) / perBlock, 0, layers);
            if (_blocks[d] > 0)
                Join(context, d, 0, 0);
        }
        var saturated = Saturated();
        context.Timeline = new RateTimeline(saturated);
        if (saturated <= 0)
            return (null, "some block is held by no server");
        var chain = FastestChain(context);
        var prediction = chain is null ? null : context.Evaluator.Predict([chain]);
        if (prediction is null)
            return (null, "no chain of servers covers every block");
        var nodes = new HashSet<int>();
        for (var d = 0; d < devices.Count; d++)
        {
            if (_serving[d])
                nodes.Add(context.Pool.DeviceNode[d]);
        }
        return (prediction with { SaturatedTokensPerSecond = saturated, NodesUsed = nodes.Count }, null);
    }

    public override void NodeDown(SimulationContext context, int node, double seconds)
    {
        var lost = false;
        foreach (var d in DevicesOf(context, node))
        {
            _servingFrom[d] = double.PositiveInfinity;
            if (!_serving[d])
                continue;
            _serving[d] = false;
            AddThroughput(d, -_capacity[d]);
            lost = true;
        }
        if (!lost)
            return;
        context.Disruptions++;
        context.Timeline.Set(seconds, Saturated());
    }

    public override void NodeUp(SimulationContext context, int node, double seconds)
    {
        foreach (var d in DevicesOf(context, node))
        {
            if (_blocks[d] > 0)
                Join(context, d, seconds, context.Evaluator.LoadSeconds([(context.Pool.Devices[d].Id, SpanBytes(context, d))]));
        }
    }

    public override void Wake(SimulationContext context, double seconds)
    {
        var changed = false;
        for (var d = 0; d < _servingFrom.Length; d++)
        {
            if (_servingFrom[d] > seconds)
                continue;
            _servingFrom[d] = double.PositiveInfinity;
            _serving[d] = true;
            AddThroughput(d, _capacity[d]);
            changed = true;
        }
        if (changed)
            context.Timeline.Set(seconds, Saturated());
    }

    /// <summary>When a block has no server, the most redundant server (its blocks' least throughput without it is highest) moves to cover it.</summary>
    public override void Tick(SimulationContext context, double seconds)
    {
        if (Saturated() > 0)
            return;
        var mover = -1;
        var spare = 0.0;
        for (var d = 0; d < _serving.Length; d++)
        {
            if (!_serving[d])
                continue;
            var least = double.PositiveInfinity;
            for (var b = _start[d]; b < _start[d] + _blocks[d]; b++)
                least = Math.Min(least, _blockThroughput[b] - _capacity[d]);
            if (least > spare)
                (mover, spare) = (d, least);
        }
        if (mover < 0)
            return;
        context.Repairs++;
        _serving[mover] = false;
        AddThroughput(mover, -_capacity[mover]);
        Join(context, mover, seconds, context.Evaluator.LoadSeconds([(context.Pool.Devices[mover].Id, SpanBytes(context, mover))]));
    }

    private IEnumerable<int> DevicesOf(SimulationContext context, int node)
    {
        for (var d = context.Pool.NodeFirstDevice[node]; d < context.Pool.NodeFirstDevice[node + 1]; d++)
            yield return d;
    }

    private long SpanBytes(SimulationContext context, int d) =>
        context.Request.Model.LayerBytes(new LayerSpan(_start[d], _start[d] + _blocks[d]));

    /// <summary>A server picks its window and serves after <paramref name="loadSeconds"/> (at once at the start).</summary>
    private void Join(SimulationContext context, int d, double seconds, double loadSeconds)
    {
        _start[d] = BestStart(_blocks[d]);
        var dev = context.Pool.Devices[d];
        var time = (_readPrefix[_start[d] + _blocks[d]] - _readPrefix[_start[d]]) / (dev.MemoryBandwidthGBps * 1e9);
        var uplink = LinkCatalog.AccessLink(context.Pool.Nodes[context.Pool.DeviceNode[d]].Class);
        var send = context.Request.Model.ActivationBytesPerToken(context.Request.ActivationBytesPerElement) / uplink.BandwidthBytesPerSecond;
        _capacity[d] = 1 / Math.Max(time, send);
        if (loadSeconds <= 0)
        {
            _serving[d] = true;
            AddThroughput(d, _capacity[d]);
            return;
        }
        context.BytesLoaded += SpanBytes(context, d);
        _servingFrom[d] = seconds + loadSeconds;
        context.WakeAt(_servingFrom[d]);
    }

    /// <summary>The window of <paramref name="count"/> blocks whose least throughput is lowest, then whose sum is lowest, then the first.</summary>
    private int BestStart(int count)
    {
        var best = 0;
        double bestMin = double.PositiveInfinity, bestSum = double.PositiveInfinity;
        for (var s = 0; s + count <= _blockThroughput.Length; s++)
        {
            double min = double.PositiveInfinity, sum = 0;
            for (var b = s; b < s + count; b++)
            {
                min = Math.Min(min, _blockThroughput[b]);
                sum += _blockThroughput[b];
            }
            // Sums of the same throughputs in another order differ in the last bits: equal within a tolerance is a tie,
            // and a tie goes to the first window, as Petals' comparison of sorted windows does.
            var c = Compare(min, bestMin);
            if (c < 0 || (c == 0 && Compare(sum, bestSum) < 0))
                (best, bestMin, bestSum) = (s, min, sum);
        }
        return best;
    }

    private static int Compare(double a, double b)
    {
        if (double.IsPositiveInfinity(b))
            return double.IsPositiveInfinity(a) ? 0 : -1;
        return Math.Abs(a - b) <= 1e-9 * Math.Max(Math.Abs(a), Math.Abs(b)) ? 0 : a.CompareTo(b);
    }

    private void AddThroughput(int d, double delta)
    {
        for (var b = _start[d]; b < _start[d] + _blocks[d]; b++)
            _blockThroughput[b] = Math.Max(0, _blockThroughput[b] + delta);
    }

    private double Saturated()
    {
        var min = double.PositiveInfinity;
        foreach (var t in _blockThroughput)
            min = Math.Min(min, t);
        return min < 1e-12 ? 0 : min;
    }

    /// <summary>
    /// The client's route: over block positions, the chain of serving servers (each from where the chain is to the end
    /// of its span) with the least time per token, a hop costed at the server's access link (Petals pings servers).
    /// </summary>
    internal IReadOnlyList<StagePlacement>? FastestChain(SimulationContext context)
    {
        var layers = _blockThroughput.Length;
        var best = new double[layers + 1];
        var via = new int[layers + 1];
        var from = new int[layers + 1];
        Array.Fill(best, double.PositiveInfinity);
        best[0] = 0;
        var devices = context.Pool.Devices;
        for (var a = 0; a < layers; a++)
        {
            if (double.IsPositiveInfinity(best[a]))
                continue;
            for (var d = 0; d < devices.Count; d++)
            {
                if (!_serving[d] || _start[d] > a || _start[d] + _blocks[d] <= a)
                    continue;
                var end = _start[d] + _blocks[d];
                var link = LinkCatalog.AccessLink(context.Pool.Nodes[context.Pool.DeviceNode[d]].Class);
                var cost = best[a] + (_readPrefix[end] - _readPrefix[a]) / (devices[d].MemoryBandwidthGBps * 1e9) + (link.RttMs + link.JitterP99Ms) / 2000;
                if (cost < best[end])
                    (best[end], via[end], from[end]) = (cost, d, a);
            }
        }
        if (double.IsPositiveInfinity(best[layers]))
            return null;
        var chain = new List<StagePlacement>();
        for (var p = layers; p > 0; p = from[p])
            chain.Add(new StagePlacement(devices[via[p]].Id, new LayerSpan(from[p], p)));
        chain.Reverse();
        return chain;
    }
}
