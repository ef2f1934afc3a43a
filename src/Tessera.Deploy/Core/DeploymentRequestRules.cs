using System.Text.RegularExpressions;
using Tessera.Distribution;
using Tessera.Serving;
using Tessera.Serving.Protocol;

namespace Tessera.Deploy;

/// <summary>A deployment request that passed <see cref="DeploymentRequestRules.Validate"/>: the model trimmed, the activation format parsed.</summary>
internal sealed record ValidatedRequest(DeploymentRequest Request, string Model, ActivationFormat Activations);

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
            throw Invalid("Give the model to deploy: a GGUF path on the coordinator's machine or hf://owner/repo/file.gguf.");
        // Refused with the request, before a deployment exists or the hub is asked anything.
        if (HuggingFaceUri.IsHuggingFace(request.Model.Trim()) && !HuggingFaceUri.TryParse(request.Model.Trim(), out _, out var reference))
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
        return new ValidatedRequest(request, request.Model.Trim(), activations);
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
