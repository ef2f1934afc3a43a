using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Tessera.Engine.Generation;
using Tessera.Engine.Templates;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// The coordinator's /v1 generation service: routes each request by model name to the deployment of that name (the
/// replica with the fewest sessions in flight). Deployments appear when their pipeline is connected and disappear
/// when they are removed or break; an unknown name is <see cref="UnknownModelException"/> (404 at /v1).
/// </summary>
public sealed class DeploymentRouter : ITextGenerationService
{
    private ImmutableDictionary<string, ImmutableArray<PipelineGenerationService>> _routes =
        ImmutableDictionary.Create<string, ImmutableArray<PipelineGenerationService>>(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="name"/> with these replicas (none: stops serving it).</summary>
    public void Set(string name, IReadOnlyList<PipelineGenerationService> replicas) =>
        ImmutableInterlocked.Update(ref _routes, routes => replicas.Count == 0 ? routes.Remove(name) : routes.SetItem(name, [.. replicas]));

    public IReadOnlyList<ServedModel> ListModels() =>
        _routes.OrderBy(r => r.Key, StringComparer.Ordinal).SelectMany(r => r.Value[0].ListModels()).ToList();

    public ServedModel? FindModel(string id) => _routes.TryGetValue(id, out var replicas) ? replicas[0].FindModel(id) : null;

    public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages) => Pick(model).TokenizeChat(model, messages);

    public int[] TokenizePrompt(string model, string prompt) => Pick(model).TokenizePrompt(model, prompt);

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        var service = Pick(model);
        await foreach (var token in service.GenerateAsync(model, prompt, options, cancellation).ConfigureAwait(false))
            yield return token;
    }

    private PipelineGenerationService Pick(string model)
    {
        if (!_routes.TryGetValue(model, out var replicas))
            throw new UnknownModelException(model);
        var best = replicas[0];
        foreach (var r in replicas)
        {
            if (r.Driver.ActiveSessions < best.Driver.ActiveSessions)
                best = r;
        }
        return best;
    }
}
