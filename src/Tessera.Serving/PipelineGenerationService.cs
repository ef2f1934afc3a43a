using System.Runtime.CompilerServices;
using Tessera.Engine.Generation;
using Tessera.Engine.Gguf;
using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Serving;

/// <summary>Limits and identity of a <see cref="PipelineGenerationService"/>.</summary>
public sealed record PipelineGenerationServiceOptions
{
    /// <summary>The model id clients use (default: the GGUF file name without extension).</summary>
    public string? Id { get; init; }

    /// <summary>Sessions in flight through the pipeline at once.</summary>
    public int MaxActiveSessions { get; init; } = 16;

    /// <summary>Sessions waiting for a slot before new requests are refused with <see cref="CapacityExceededException"/>.</summary>
    public int MaxQueuedSessions { get; init; } = 64;

    /// <summary>Mutual TLS to the stages; null for h2c on loopback.</summary>
    public StageTls? Tls { get; init; }

    /// <summary>
    /// Replacement pipelines when a stage fails (the deployment controller's re-planning); null: a stage failure
    /// fails the sessions in flight. With one, sessions pause and continue with the same text.
    /// </summary>
    public IPipelineRecovery? Recovery { get; init; }

    /// <summary>Recoveries one session may go through before it fails with a retryable <see cref="PipelineException"/>.</summary>
    public int MaxRecoveriesPerSession { get; init; } = 3;

    /// <summary>Bound on one recovery, from the failure to the replay.</summary>
    public TimeSpan RecoveryTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public Microsoft.Extensions.Logging.ILogger? Logger { get; init; }

    /// <summary>Route tickets for the deployment's stages (see <see cref="PipelineDriverOptions.Tickets"/>).</summary>
    public RouteTicketIssuer? Tickets { get; init; }
}

/// <summary>
/// Serves a model split over a chain of stages (a deployment) to API front ends: tokenizer and chat template
/// come from the GGUF file on this side; a <see cref="PipelineDriver"/> runs the sessions through the stages.
/// Output is token-for-token what <see cref="LocalGenerationService"/> gives with f32 activations.
/// </summary>
public sealed partial class PipelineGenerationService : IPipelineService, IGenerationLoad
{
    private readonly PipelineDriver _driver;
    private readonly Tokenizer _tokenizer;
    private readonly ChatTemplate _template;
    private readonly ServedModel _served;
    private readonly PipelineGenerationServiceOptions _options;
    private readonly PrioritySlots _slots;
    private readonly Lock _gate = new();
    private int _queued;

    public PipelineGenerationService(PipelineDriver driver, Tokenizer tokenizer, ChatTemplate? template, string id, PipelineGenerationServiceOptions? options = null)
    {
        _driver = driver;
        _tokenizer = tokenizer;
        _template = template ?? ChatTemplate.Parse(ChatPrompt.FallbackTemplate);
        _options = options ?? new PipelineGenerationServiceOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxActiveSessions, 1);
        _served = new ServedModel(id, driver.ContextLength, "tessera", DateTimeOffset.UtcNow) { ToolCallFormat = _template.ToolCallFormat };
        _slots = new PrioritySlots(_options.MaxActiveSessions);
    }

    public PipelineDriver Driver => _driver;

    public string? Failure => _driver.Failure;

    public IReadOnlyList<string> Endpoints => _driver.Endpoints;

    public int ActiveSessions => _driver.ActiveSessions;

    public PipelineRecoveryStatistics RecoveryStatistics => _driver.RecoveryStatistics;

    /// <summary>Sessions in the pipeline and waiting for a slot; the KV caches are the stages' (they report them).</summary>
    public IReadOnlyList<ModelLoad> Load()
    {
        int queued;
        lock (_gate)
            queued = _queued;
        return [new ModelLoad(_served.Id, _driver.ActiveSessions, queued)];
    }

    public Task<bool> MoveToAsync(IReadOnlyList<string> endpoints, CancellationToken cancellation) => _driver.MoveToAsync(endpoints, cancellation);

    public Tokenizer Tokenizer => _tokenizer;

    /// <summary>
    /// Reads the tokenizer and chat template from <paramref name="modelPath"/> (metadata only) and connects to
    /// the stages at <paramref name="endpoints"/>, in pipeline order.
    /// </summary>
    public static async Task<PipelineGenerationService> ConnectAsync(string modelPath, IReadOnlyList<string> endpoints,
        PipelineGenerationServiceOptions? options = null, CancellationToken cancellation = default)
    {
        Tokenizer tokenizer;
        ChatTemplate? template;
        using (var file = GgufFile.Open(modelPath))
        {
            tokenizer = Tokenizer.FromGguf(file.Metadata);
            var source = file.Metadata.TryGetString("tokenizer.chat_template");
            template = source is null ? null : ChatTemplate.Parse(source);
        }
        options ??= new PipelineGenerationServiceOptions();
        return await ConnectAsync(tokenizer, template, endpoints, options with { Id = options.Id ?? Path.GetFileNameWithoutExtension(modelPath) }, cancellation)
            .ConfigureAwait(false);
    }

    /// <summary>Connects to the stages at <paramref name="endpoints"/>, in pipeline order, with a tokenizer and chat template already read.</summary>
    public static async Task<PipelineGenerationService> ConnectAsync(Tokenizer tokenizer, ChatTemplate? template, IReadOnlyList<string> endpoints,
        PipelineGenerationServiceOptions options, CancellationToken cancellation = default)
    {
        var driver = await PipelineDriver.ConnectAsync(endpoints, new PipelineDriverOptions
        {
            Tls = options.Tls,
            Recovery = options.Recovery,
            MaxRecoveriesPerSession = options.MaxRecoveriesPerSession,
            RecoveryTimeout = options.RecoveryTimeout,
            Logger = options.Logger,
            Tickets = options.Tickets,
            Name = options.Id ?? string.Empty,
        }, cancellation).ConfigureAwait(false);
        return new PipelineGenerationService(driver, tokenizer, template, options.Id ?? "model", options);
    }

    /// <summary>Token ids a prompt may hold: those of both the tokenizer and the stages' model.</summary>
    private int VocabularySize => Math.Min(_driver.VocabSize, _tokenizer.VocabularySize);

    public IReadOnlyList<ServedModel> ListModels() => [_served];

    public ServedModel? FindModel(string id) => string.Equals(id, _served.Id, StringComparison.Ordinal) ? _served : null;

    public bool HasRoom(string model)
    {
        lock (_gate)
            return _slots.Free > 0 || _queued < _options.MaxQueuedSessions;
    }

    public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null)
    {
        Require(model);
        return ChatPrompt.Tokenize(_template, _tokenizer, messages, tools);
    }

    public int[] TokenizePrompt(string model, string prompt)
    {
        Require(model);
        return _tokenizer.Encode(prompt, addSpecial: true, parseSpecial: false);
    }

    public byte[]? TokenBytes(string model, int tokenId) =>
        FindModel(model) is not null && tokenId >= 0 && tokenId < _tokenizer.VocabularySize ? _tokenizer.TokenBytes(tokenId) : null;

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        Require(model);
        GenerationRequest.Validate(prompt, options, _served.ContextLength, VocabularySize);

        lock (_gate)
        {
            if (_slots.Free == 0 && _queued >= _options.MaxQueuedSessions)
                throw new CapacityExceededException(TimeSpan.FromSeconds(2), $"{_options.MaxActiveSessions} sessions running and {_queued} waiting");
            _queued++;
        }
        try
        {
            await _slots.WaitAsync(options.Background, cancellation).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
                _queued--;
        }

        try
        {
            var text = new GenerationText(_tokenizer, prompt);
            var request = new PipelineRequest(prompt, options.Sampling, options.MaxTokens)
            {
                TopLogProbs = options.TopLogProbs,
                EndTokens = options.IgnoreEndOfGeneration ? null : _tokenizer.EndOfGenerationIds,
                Grammar = options.Grammar,
            };
            await foreach (var t in _driver.GenerateAsync(request, cancellation).ConfigureAwait(false))
                yield return new GeneratedToken(t.Id, text.Next(t.Id, t.Finish), t.LogProb, t.TopLogProbs, t.Finish);
        }
        finally
        {
            _slots.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _driver.DisposeAsync().ConfigureAwait(false);
    }

    private void Require(string model)
    {
        if (FindModel(model) is null)
            throw new UnknownModelException(model);
    }
}
