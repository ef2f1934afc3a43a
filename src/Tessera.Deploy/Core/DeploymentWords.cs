using System.Globalization;
using Tessera.Planner;

namespace Tessera.Deploy;

/// <summary>How deployment events say things: layers as people count them, seconds, moves of layers. Pure.</summary>
internal static class DeploymentWords
{
    /// <summary>Layers [first, end) as people count them: "layers 2-3" for the third and fourth block, "layer 2" for one.</summary>
    public static string Layers(int first, int end) => end - first == 1
        ? string.Create(CultureInfo.InvariantCulture, $"layer {first}")
        : string.Create(CultureInfo.InvariantCulture, $"layers {first}-{end - 1}");

    public static string Seconds(double seconds) => seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    /// <summary>"moved layers 2-3 from node b to node d, ...", or "no layers moved"; <paramref name="nodeName"/> names a node id.</summary>
    public static string Moves(IReadOnlyList<LayerMove> moves, Func<string, string> nodeName) => moves.Count == 0
        ? "no layers moved"
        : string.Join(", ", moves.Select(m => PoolCluster.NodeOf(m.FromDeviceId) is { } from
            ? $"moved {Layers(m.Layers.First, m.Layers.Last)} from node {nodeName(from)} to node {NodeName(m.ToDeviceId, nodeName)}"
            : $"moved {Layers(m.Layers.First, m.Layers.Last)} to node {NodeName(m.ToDeviceId, nodeName)}"));

    private static string NodeName(string deviceId, Func<string, string> nodeName) => PoolCluster.NodeOf(deviceId) is { } id ? nodeName(id) : deviceId;
}
