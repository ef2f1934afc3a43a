using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Tessera.Generation;
using Tessera.Generation.Tools;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// The coordinator's /v1 generation service: routes each request by model name to the deployment of that name (the
/// replica with the fewest sessions in flight). A deployment is known from its creation (or the coordinator's start)
/// until it is removed; while it has no connected pipeline (deploying, reattaching after a restart, reconnecting) its
/// requests get <see cref="DeploymentUnavailableException"/> (503 with Retry-After at /v1). An unknown name is
/// <see cref="UnknownModelException"/> (404 at /v1).
/// </summary>
public sealed class DeploymentRouter : ITextGenerationService, ITokenDecoder, IGenerationLoad
{
    private ImmutableDictionary<string, ImmutableArray<IPipelineService>> _routes =
        ImmutableDictionary.Create<string, ImmutableArray<IPipelineService>>(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="name"/> with these replicas; none: the deployment exists but cannot serve yet.</summary>
    public void Set(string name, IReadOnlyList<IPipelineService> replicas) =>
        ImmutableInterlocked.Update(ref _routes, routes => routes.SetItem(name, [.. replicas]));

    /// <summary>Forgets <paramref name="name"/> (the deployment was removed): its requests get 404.</summary>
    public void Remove(string name) => ImmutableInterlocked.Update(ref _routes, routes => routes.Remove(name));

    /// <summary>The replicas serving <paramref name="name"/> now (none while it cannot serve).</summary>
    public IReadOnlyList<IPipelineService> Replicas(string name) => _routes.TryGetValue(name, out var replicas) ? replicas : [];

    /// <summary>Every deployment's sessions and queue, over its replicas (zero while it has none).</summary>
    public IReadOnlyList<ModelLoad> Load() =>
        _routes.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r =>
        {
            var (active, queued) = (0, 0);
            foreach (var replica in r.Value)
            {
                foreach (var load in (replica as IGenerationLoad)?.Load() ?? [])
                    (active, queued) = (active + load.ActiveSessions, queued + load.QueuedSessions);
            }
            return new ModelLoad(r.Key, active, queued);
        }).ToList();

    public IReadOnlyList<ServedModel> ListModels() =>
        _routes.Where(r => r.Value.Length > 0).OrderBy(r => r.Key, StringComparer.Ordinal).SelectMany(r => r.Value[0].ListModels()).ToList();

    public ServedModel? FindModel(string id)
    {
        if (!_routes.TryGetValue(id, out var replicas))
            return null;
        return replicas.Length > 0 ? replicas[0].FindModel(id) : throw new DeploymentUnavailableException(id);
    }

    public bool HasRoom(string model)
    {
        if (!_routes.TryGetValue(model, out var replicas))
            return true; // GenerateAsync answers for an unknown model
        foreach (var r in replicas)
        {
            if (r.HasRoom(model))
                return true;
        }
        return replicas.Length == 0; // not serving yet: that answer (503) is not "full"
    }

    public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null) => Pick(model).TokenizeChat(model, messages, tools);

    public int[] TokenizePrompt(string model, string prompt) => Pick(model).TokenizePrompt(model, prompt);

    public byte[]? TokenBytes(string model, int tokenId) =>
        _routes.TryGetValue(model, out var replicas) && replicas.Length > 0 ? replicas[0].TokenBytes(model, tokenId) : null;

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        var service = Pick(model);
        await foreach (var token in service.GenerateAsync(model, prompt, options, cancellation).ConfigureAwait(false))
            yield return token;
    }

    public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation) =>
        Pick(model).EmbedAsync(model, inputs, options, cancellation);

    private IPipelineService Pick(string model)
    {
        if (!_routes.TryGetValue(model, out var replicas))
            throw new UnknownModelException(model);
        if (replicas.Length == 0)
            throw new DeploymentUnavailableException(model);
        var best = replicas[0];
        foreach (var r in replicas)
        {
            if (r.ActiveSessions < best.ActiveSessions)
                best = r;
        }
        return best;
    }
}
