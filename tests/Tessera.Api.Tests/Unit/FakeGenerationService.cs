using System.Runtime.CompilerServices;
using Tessera.Engine.Generation;
using Tessera.Engine.Model;
using Tessera.Engine.Templates;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Api.Tests.Unit;

/// <summary>A generation service that streams scripted token texts: for HTTP-level tests without a model.</summary>
internal sealed class FakeGenerationService : ITextGenerationService
{
    public const string Model = "fake";
    private ServedModel _model = new(Model, 64, "tests", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));

    /// <summary>How the fake model writes tool calls (what the API reads its scripted replies with).</summary>
    public ToolCallFormat ToolCallFormat
    {
        get => _model.ToolCallFormat;
        set => _model = _model with { ToolCallFormat = value };
    }

    /// <summary>The tools of the last chat tokenized.</summary>
    public ChatTools? LastTools { get; private set; }

    /// <summary>The messages of the last chat tokenized.</summary>
    public IReadOnlyList<ChatMessage>? LastMessages { get; private set; }

    /// <summary>Texts of the tokens to stream; an empty text at the end is the end-of-generation token (finish "stop").</summary>
    public string[] Script { get; set; } = ["Hello", ",", " world", ""];

    /// <summary>Delay before each token.</summary>
    public TimeSpan TokenDelay { get; set; }

    public Exception? FailWith { get; set; }

    /// <summary>Tokens to stream before <see cref="FailWith"/> is thrown (0: before the first).</summary>
    public int FailAfterTokens { get; set; }

    public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public GenerationOptions? LastOptions { get; private set; }

    public IReadOnlyList<ServedModel> ListModels() => [_model];

    /// <summary>What <see cref="HasRoom"/> answers.</summary>
    public bool Full { get; set; }

    /// <summary>Prompts rendered or tokenized so far.</summary>
    public int Tokenized => _tokenized;

    private int _tokenized;

    public bool HasRoom(string model) => !Full;

    public ServedModel? FindModel(string id) => id == Model ? _model : null;

    public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null)
    {
        if (FindModel(model) is null)
            throw new UnknownModelException(model);
        (LastTools, LastMessages) = (tools, messages);
        return Tokens(string.Concat(messages.Select(m => m.Content)));
    }

    public int[] TokenizePrompt(string model, string prompt) =>
        FindModel(model) is null ? throw new UnknownModelException(model) : Tokens(prompt);

    // One token per character: prompt lengths are easy to control.
    private int[] Tokens(string text)
    {
        Interlocked.Increment(ref _tokenized);
        return [1, .. text.Select(c => (int)c)];
    }

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellation)
    {
        LastOptions = options;
        using var registration = cancellation.Register(() => Cancelled.TrySetResult());
        if (FailWith is not null && FailAfterTokens == 0)
            throw FailWith;
        if (prompt.Length + 1 > _model.ContextLength)
            throw new ContextFullException(prompt.Length + 1, _model.ContextLength);
        for (var i = 0; i < Script.Length && i < options.MaxTokens; i++)
        {
            if (FailWith is not null && i == FailAfterTokens)
                throw FailWith;
            if (TokenDelay > TimeSpan.Zero)
                await Task.Delay(TokenDelay, cancellation).ConfigureAwait(false);
            cancellation.ThrowIfCancellationRequested();
            var top = options.TopLogProbs > 0 ? Enumerable.Range(0, options.TopLogProbs).Select(k => (100 + k, -1f - k)).ToArray() : null;
            // The generation contract: the last token says why the generation ended.
            FinishReason? finish = Script[i].Length == 0 && i == Script.Length - 1 ? FinishReason.Stop
                : i == options.MaxTokens - 1 ? FinishReason.Length
                : i == Script.Length - 1 ? FinishReason.Stop
                : null;
            yield return new GeneratedToken(i + 10, Script[i], -0.25f * (i + 1), top, finish);
            if (finish is not null)
                yield break;
        }
    }

    /// <summary>Two dimensions per input: its length and its first id, normalised, so tests can tell inputs apart.</summary>
    public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation)
    {
        if (FindModel(model) is null)
            throw new UnknownModelException(model);
        EmbeddingRequest.Validate(inputs, options, _model.ContextLength, int.MaxValue, 2);
        var vectors = inputs.Select(i =>
        {
            float[] v = [i.Length, i[0]];
            EmbeddingRequest.Normalize(v);
            return v;
        }).ToList();
        return Task.FromResult(new EmbeddingResult(vectors, inputs.Sum(i => i.Length)));
    }
}

/// <summary>A transient failure, as a pipeline that lost a stage and could not be replaced in time reports it.</summary>
internal sealed class TransientFailure(string message, TimeSpan retryAfter) : Exception(message), IRetryableError
{
    public bool IsRetryable => true;

    public TimeSpan RetryAfter { get; } = retryAfter;

    public string ClientMessage => "The pipeline is being repaired; retry.";
}
