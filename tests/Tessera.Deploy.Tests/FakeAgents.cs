using System.Collections.Concurrent;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;

namespace Tessera.Deploy.Tests;

/// <summary>
/// The pool as the controller sees it, substituted: nodes the test connects, drains and loses, and agents that run
/// what they are told. An agent answers a start command as a real one does, on another thread: a new stage reports
/// fetching, loading and then ready at an endpoint of its own; a stage it already runs reports ready at once (the
/// reattach after a coordinator restart). Stop commands end stages. Every command is recorded.
/// </summary>
internal sealed class FakeAgents : INodeDirectory, IAgentCommands
{
    private readonly Lock _gate = new();
    private readonly List<PoolNode> _nodes = [];
    private readonly Dictionary<(string Node, string Deployment, int Index, int First, int Last, string Device), string> _running = [];
    private int _nextPort = 20000;

    /// <summary>Where reports go (the controller under test); set by the harness.</summary>
    public Action<string, StageStatus>? Report { get; set; }

    /// <summary>Every command sent, with its node, in order.</summary>
    public ConcurrentQueue<(string Node, Command Command)> Commands { get; } = new();

    /// <summary>Nodes whose agents receive commands but do not answer them (a start that hangs).</summary>
    public HashSet<string> Silent { get; } = [];

    public IReadOnlyList<PoolNode> Snapshot()
    {
        lock (_gate)
            return [.. _nodes];
    }

    /// <summary>A node joins, ready and connected, with <paramref name="speedGBps"/> of memory speed and 1 GiB free (and a link probe and GPUs, when given).</summary>
    public PoolNode Join(string name, double speedGBps = 5, long ramFreeBytes = 1L << 30, string probeEndpoint = "", IReadOnlyList<PoolGpu>? gpus = null)
    {
        var index = _nodes.Count + 1;
        var node = new PoolNode("node_" + name, name, NodeState.Ready, false, true, $"10.0.0.{index}", ramFreeBytes, speedGBps)
        {
            ProbeEndpoint = probeEndpoint,
            Gpus = gpus ?? [],
        };
        lock (_gate)
            _nodes.Add(node);
        return node;
    }

    /// <summary>The node's agent is gone (its control stream broke): down and disconnected; its stages die with it.</summary>
    public void Lose(string name)
    {
        Update(name, n => n with { State = NodeState.Down, Connected = false });
        lock (_gate)
        {
            foreach (var key in _running.Keys.Where(k => k.Node == "node_" + name).ToList())
                _running.Remove(key);
        }
    }

    /// <summary>The node comes back: ready and connected (its agent restarted, so it runs no stage).</summary>
    public void Return(string name) => Update(name, n => n with { State = NodeState.Ready, Connected = true });

    /// <summary>An administrator drains the node: it keeps serving while its stages move away.</summary>
    public void Drain(string name) => Update(name, n => n with { State = NodeState.Draining, Drained = true });

    public PoolNode Node(string name)
    {
        lock (_gate)
            return _nodes.Single(n => n.Name == name);
    }

    /// <summary>The stages the node's agent runs now: (deployment id, index, first layer, last layer, device) to endpoint.</summary>
    public IReadOnlyDictionary<(string Deployment, int Index, int First, int Last, string Device), string> Running(string name)
    {
        lock (_gate)
            return _running.Where(r => r.Key.Node == "node_" + name).ToDictionary(r => (r.Key.Deployment, r.Key.Index, r.Key.First, r.Key.Last, r.Key.Device), r => r.Value);
    }

    /// <summary>The start commands sent to a node.</summary>
    public IReadOnlyList<StartStageCommand> Starts(string name) =>
        Commands.Where(c => c.Node == "node_" + name && c.Command.KindCase == Command.KindOneofCase.StartStage).Select(c => c.Command.StartStage).ToList();

    /// <summary>The stop commands sent to a node.</summary>
    public IReadOnlyList<StopStageCommand> Stops(string name) =>
        Commands.Where(c => c.Node == "node_" + name && c.Command.KindCase == Command.KindOneofCase.StopStage).Select(c => c.Command.StopStage).ToList();

    public bool TrySend(string nodeId, Command command)
    {
        lock (_gate)
        {
            if (_nodes.FirstOrDefault(n => n.Id == nodeId) is not { Connected: true })
                return false;
        }
        Commands.Enqueue((nodeId, command));
        if (Silent.Contains(nodeId))
            return true;
        switch (command.KindCase)
        {
            case Command.KindOneofCase.StartStage:
                Start(nodeId, command.StartStage);
                break;
            case Command.KindOneofCase.StopStage:
                var stop = command.StopStage;
                lock (_gate)
                {
                    foreach (var key in _running.Keys.Where(k => k.Node == nodeId && k.Deployment == stop.DeploymentId && (stop.StageIndex < 0 || k.Index == stop.StageIndex)
                        && ((stop.FirstLayer == 0 && stop.LastLayer == 0) || (k.First == stop.FirstLayer && k.Last == stop.LastLayer))
                        && (stop.Device.Length == 0 || k.Device == stop.Device)).ToList())
                        _running.Remove(key);
                }
                break;
        }
        return true;
    }

    /// <summary>After a coordinator restart an agent reconnects and reports every stage it still runs.</summary>
    public void ReportRunning(string name, IReadOnlyDictionary<(string Deployment, int Index, int First, int Last, string Device), string> stages,
        Func<(string Deployment, int Index, int First, int Last, string Device), string> modelSha)
    {
        foreach (var (key, endpoint) in stages)
            Deliver("node_" + name, Status(key.Deployment, key.Index, key.First, key.Last, key.Device, modelSha(key), "ready", endpoint));
    }

    private void Start(string nodeId, StartStageCommand start)
    {
        var device = start.Device.Length == 0 ? "cpu" : start.Device;
        var key = (nodeId, start.DeploymentId, start.StageIndex, start.FirstLayer, start.LastLayer, device);
        string? endpoint;
        bool fresh;
        lock (_gate)
        {
            fresh = !_running.TryGetValue(key, out endpoint);
            if (fresh)
            {
                var address = _nodes.Single(n => n.Id == nodeId).Address;
                endpoint = $"{address}:{_nextPort++}";
                _running[key] = endpoint;
            }
        }
        StageStatus Step(string state, string at) => Status(start.DeploymentId, start.StageIndex, start.FirstLayer, start.LastLayer, device, start.ModelSha256, state, at);
        if (fresh)
            Deliver(nodeId, Step("fetching", ""), Step("loading", ""), Step("ready", endpoint!));
        else
            Deliver(nodeId, Step("ready", endpoint!));
    }

    private static StageStatus Status(string deployment, int index, int first, int last, string device, string sha, string state, string endpoint) => new()
    {
        Device = device,
        DeploymentId = deployment,
        StageIndex = index,
        FirstLayer = first,
        LastLayer = last,
        ModelSha256 = sha,
        State = state,
        Endpoint = endpoint,
    };

    /// <summary>Reports travel over the network: they arrive on another thread, in the order given.</summary>
    private void Deliver(string nodeId, params StageStatus[] statuses)
    {
        var report = Report ?? throw new InvalidOperationException("No controller to report to.");
        ThreadPool.QueueUserWorkItem(_ =>
        {
            foreach (var status in statuses)
                report(nodeId, status);
        });
    }

    private void Update(string name, Func<PoolNode, PoolNode> change)
    {
        lock (_gate)
        {
            var i = _nodes.FindIndex(n => n.Name == name);
            _nodes[i] = change(_nodes[i]);
        }
    }
}
