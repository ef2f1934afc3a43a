using System.Text.RegularExpressions;
using Tessera.Distribution;
using Tessera.Serving;
using Tessera.Serving.Protocol;

namespace Tessera.Deploy;

/// <summary>A deployment request that passed <see cref="DeploymentRequestRules.Validate"/>: the model trimmed, the activation format and placement parsed.</summary>
internal sealed record ValidatedRequest(DeploymentRequest Request, string Model, ActivationFormat Activations, IReadOnlyList<RequestedStage>? Placement = null);

/// <summary>One stage of a user's placement as written: a node (name or id) and its layers, first inclusive, last exclusive.</summary>
internal sealed record RequestedStage(string Node, int FirstLayer, int LastLayer);

/// <summary>The checks on a deployment request and its name, with errors a user can act on. Pure.</summary>
internal static partial class DeploymentRequestRules
{
    /// <summary>Sessions served at once when the request does not say.</summary>
    public const int DefaultMaxSessions = 4;

    /// <summary>The longest context a deployment gets by default (a model's own may be far longer).</summary>
    public const int DefaultContextCap = 4096;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    private static partial Regex NamePattern();

    /// <exception cref="DeploymentException">Invalid: no model, an hf:// reference that is not valid, an unknown activation format, a count below one, a bad name.</exception>
    public static ValidatedRequest Validate(DeploymentRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Model))
            throw Invalid("Give the model to deploy: a GGUF path on the coordinator's machine, hf://owner/repo/file.gguf or hf://owner/repo:Q4_K_M.");
        // Refused with the request, before a deployment exists or the hub is asked anything.
        if (HuggingFaceUri.IsHuggingFace(request.Model.Trim()) && !HuggingFaceRepoReference.IsValidModelReference(request.Model.Trim(), out var reference))
            throw Invalid(reference);
        ActivationFormat activations;
        try
        {
            activations = ActivationFormats.Parse(request.Activations);
        }
        catch (FormatException e)
        {
            throw Invalid(e.Message);
        }
        if (request.Replicas is < 1 || request.Context is < 1 || request.MaxSessions is < 1 || request.MinStages is < 1 || request.Threads is < 0)
            throw Invalid("replicas, context, max_sessions and min_stages must be at least 1 (threads at least 0).");
        if (!string.IsNullOrWhiteSpace(request.Name))
            CheckName(request.Name.Trim());
        if (request.AutoReplicas == true && request.Replicas is not null)
            throw Invalid("Give either replicas (a number) or autoReplicas (the planner chooses), not both.");
        IReadOnlyList<RequestedStage>? placement = null;
        if (request.Placement is not null)
        {
            if (request.Replicas is > 1 || request.MinStages is > 1 || request.AutoReplicas == true)
                throw Invalid("A placement gives the stages of one pipeline itself: leave out replicas and min_stages.");
            placement = ParsePlacement(request.Placement);
        }
        return new ValidatedRequest(request, request.Model.Trim(), activations, placement);
    }

    /// <summary>
    /// Reads a placement, <c>NODE:FIRST-LAST</c> per stage, comma-separated (the node's name may itself hold ':', so
    /// the layers follow the last one). Checks the form only; whether the ranges cover the model and fit is the
    /// planner's question.
    /// </summary>
    /// <exception cref="DeploymentException">Invalid, naming the part that is not NODE:FIRST-LAST.</exception>
    public static IReadOnlyList<RequestedStage> ParsePlacement(string placement)
    {
        var stages = new List<RequestedStage>();
        foreach (var raw in placement.Split(',', StringSplitOptions.TrimEntries))
        {
            var colon = raw.LastIndexOf(':');
            var dash = colon < 0 ? -1 : raw.IndexOf('-', colon + 1);
            if (colon <= 0 || dash < 0
                || !int.TryParse(raw.AsSpan(colon + 1, dash - colon - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var first)
                || !int.TryParse(raw.AsSpan(dash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var last)
                || last <= first)
            {
                throw Invalid($"'{raw}' in the placement is not NODE:FIRST-LAST (a node's name or id, then its layers, first inclusive, last exclusive, e.g. agent-a:0-11).");
            }
            stages.Add(new RequestedStage(raw[..colon].Trim(), first, last));
        }
        return stages;
    }

    /// <summary>The deployment's name: the one asked for, else the model's file name without .gguf.</summary>
    public static string NameOf(ValidatedRequest request)
    {
        if (!string.IsNullOrWhiteSpace(request.Request.Name))
            return request.Request.Name.Trim();
        var file = request.Model.Replace('\\', '/');
        file = file[(file.LastIndexOf('/') + 1)..];
        if (file.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            file = file[..^5];
        var name = file.Length == 0 ? "model" : file;
        CheckName(name);
        return name;
    }

    /// <summary>The context per session: the one asked for, else the model's, at most <see cref="DefaultContextCap"/>.</summary>
    public static int ContextOf(DeploymentRequest request, int modelContext) => request.Context ?? Math.Min(modelContext, DefaultContextCap);

    private static void CheckName(string name)
    {
        if (!NamePattern().IsMatch(name))
            throw Invalid($"'{name}' is not a deployment name: use letters, digits, '.', '_', ':' or '-' (at most 128).");
    }

    private static DeploymentException Invalid(string message) => new(DeploymentErrorKind.Invalid, message);
}
