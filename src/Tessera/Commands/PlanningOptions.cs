using System.CommandLine;
using Tessera.Deploy;

namespace Tessera.Cli.Commands;

/// <summary>The options that shape a plan, shared by <c>tessera deploy</c> and <c>tessera plan</c> so both plan alike.</summary>
internal static class PlanningOptions
{
    /// <summary>Adds the options to <paramref name="command"/>; returns what builds the request for a model from a parse result.</summary>
    public static Func<ParseResult, string, DeploymentRequest> AddTo(Command command)
    {
        var name = new Option<string?>("--name") { Description = "Model id clients use at /v1 (default: the file name without .gguf)." };
        var replicas = new Option<string?>("--replicas")
        {
            Description = "Independent copies of the pipeline, on disjoint devices (default 1), or auto: the planner chooses the count that serves the most tokens/s " +
                "while each copy keeps at least 0.8x the single-stream speed of one pipeline.",
        };
        var context = new Option<int?>("--context") { Description = "Context length per session (default: the model's, at most 4096)." };
        var sessions = new Option<int?>("--max-sessions") { Description = "Sessions served at once; every stage reserves a KV cache for each (default 4)." };
        var activations = new Option<string?>("--activations") { Description = "Activations between stages: f16 (default), f32 (exact) or q8 (least traffic)." };
        var minStages = new Option<int?>("--min-stages") { Description = "Split over at least this many stages even when fewer would hold the model." };
        var placement = new Option<string?>("--placement")
        {
            Description = "Split the model yourself instead of the planner: NODE:FIRST-LAST per stage, in pipeline order, e.g. agent-a/gpu0:0-11,agent-b:11-22 " +
                "(a node's name or id, on its CPU, or NODE/gpuN on one of its GPUs; layers first inclusive, last exclusive). The plan shows the planner's own choice beside it.",
        };
        var ignoreLinks = new Option<bool>("--ignore-links") { Description = "Plan as if no link had been measured (every hop the planner's default), to compare with a plan that uses them." };
        foreach (var option in new Option[] { name, replicas, context, sessions, activations, minStages, placement, ignoreLinks })
            command.Options.Add(option);
        return (result, model) =>
        {
            var (count, auto) = ParseReplicas(result.GetValue(replicas));
            return new DeploymentRequest(model, result.GetValue(name), count, result.GetValue(context), result.GetValue(sessions), result.GetValue(activations),
                result.GetValue(minStages), Placement: result.GetValue(placement), IgnoreLinks: result.GetValue(ignoreLinks) ? true : null, AutoReplicas: auto);
        };
    }

    /// <summary>"auto", a number, or nothing (the coordinator's default).</summary>
    internal static (int? Count, bool? Auto) ParseReplicas(string? text) => text switch
    {
        null => (null, null),
        "auto" => (null, true),
        _ when int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 1 => (n, null),
        _ => throw new ArgumentException($"--replicas takes a number of at least 1 or auto, not '{text}'."),
    };
}
