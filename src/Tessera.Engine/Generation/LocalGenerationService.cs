using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Generation;
using Tessera.Generation.Constraints;
using Tessera.Generation.Tools;

namespace Tessera.Engine.Generation;

/// <summary>Limits of a <see cref="LocalGenerationService"/>.</summary>
public sealed record LocalGenerationServiceOptions
{
    /// <summary>Sessions computed together (continuous batching).</summary>
    public int MaxActiveSessions { get; init; } = 8;

    /// <summary>Sessions waiting for a slot before new requests are refused with <see cref="CapacityExceededException"/>.</summary>
    public int MaxQueuedSessions { get; init; } = 32;

    /// <summary>Prompt tokens prefilled per step across all sessions, so decoding sessions keep a steady pace.</summary>
    public int PrefillTokensPerStep { get; init; } = 256;

    /// <summary>Context per session (default: the model's).</summary>
    public int? ContextLength { get; init; }
}

/// <summary>
/// Serves a whole model in this process to many concurrent sessions with continuous batching: each step
/// runs one forward pass over every active session (one decode token each, plus a bounded chunk of
/// pending prompts), samples each session's next token and streams it. New sessions join at any step;
/// finished or cancelled ones leave at the next. One thread computes; callers only wait on channels.
/// </summary>
public sealed partial class LocalGenerationService : ITextGenerationService, ITokenDecoder, IGenerationLoad, IDisposable
{
    private readonly LocalModel _model;
    private readonly ServedModel _served;
    private readonly LocalGenerationServiceOptions _options;
    private readonly ChatTemplate _template;
    private readonly object _gate = new();
    private readonly Queue<Session> _waiting = new();

    // Background sessions (batch lines) wait here and are admitted only when no interactive session waits.
    private readonly Queue<Session> _waitingBackground = new();
    private readonly List<Session> _active = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Thread _worker;
    private float[] _logits = [];

    public LocalGenerationService(LocalModel model, string? id = null, LocalGenerationServiceOptions? options = null)
    {
        _model = model;
        _options = options ?? new LocalGenerationServiceOptions();
        _template = model.ChatTemplate ?? ChatTemplate.Parse(ChatPrompt.FallbackTemplate);
        var name = id ?? Path.GetFileNameWithoutExtension(model.File.FilePath);
        _served = new ServedModel(name, _options.ContextLength ?? model.Stage.ContextLength, "tessera", DateTimeOffset.UtcNow)
        {
            ToolCallFormat = _template.ToolCallFormat,
        };
        _worker = new Thread(Run) { IsBackground = true, Name = $"tessera-generation-{name}" };
        _worker.Start();
    }

    /// <summary>Sessions being computed now.</summary>
    public int ActiveSessions
    {
        get
        {
            lock (_gate)
                return _active.Count;
        }
    }

    /// <summary>Sessions waiting for a slot.</summary>
    public int QueuedSessions
    {
        get
        {
            lock (_gate)
                return _waiting.Count + _waitingBackground.Count;
        }
    }

    /// <summary>Sessions running and waiting, and the positions their KV caches hold, of at most <c>MaxActiveSessions</c> caches of the context.</summary>
    public IReadOnlyList<ModelLoad> Load()
    {
        lock (_gate)
        {
            // Caches are created and dropped under the gate; a cache's length moves on the worker and is read as it stands.
            long positions = 0;
            foreach (var s in _active)
                positions += s.Cache?.Length ?? 0;
            return [new ModelLoad(_served.Id, _active.Count, _waiting.Count + _waitingBackground.Count, positions,
                (long)_options.MaxActiveSessions * _served.ContextLength)];
        }
    }

    /// <summary>Token ids a prompt may hold: those of both the tokenizer and the model's embedding.</summary>
    private int VocabularySize => Math.Min(_model.Stage.Config.VocabSize, _model.Tokenizer.VocabularySize);

    public IReadOnlyList<ServedModel> ListModels() => [_served];

    public ServedModel? FindModel(string id) => string.Equals(id, _served.Id, StringComparison.Ordinal) ? _served : null;

    public bool HasRoom(string model)
    {
        lock (_gate)
            return Occupied < _options.MaxActiveSessions + _options.MaxQueuedSessions;
    }

    public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null)
    {
        Require(model);
        return ChatPrompt.Tokenize(_template, _model.Tokenizer, messages, tools);
    }

    public int[] TokenizePrompt(string model, string prompt)
    {
        Require(model);
        return _model.Tokenizer.Encode(prompt, addSpecial: true, parseSpecial: false);
    }

    public byte[]? TokenBytes(string model, int tokenId) =>
        FindModel(model) is not null && tokenId >= 0 && tokenId < _model.Tokenizer.VocabularySize ? _model.Tokenizer.TokenBytes(tokenId) : null;

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        Require(model);
        GenerationRequest.Validate(prompt, options, _served.ContextLength, VocabularySize);

        var limits = GenerationLimits.For(prompt.Length, options.MaxTokens, _served.ContextLength,
            options.IgnoreEndOfGeneration ? null : _model.Tokenizer.EndOfGenerationIds);
        var constraint = GrammarCache.ConstraintFor(options.Grammar, options.Grammar is null ? null : ConstraintVocabulary.For(_model.Tokenizer), prompt.Length);
        var session = new Session(prompt, options, limits, new Sampler(options.Sampling, _model.Stage.Config.VocabSize, constraint), _model.Tokenizer);
        lock (_gate)
        {
            // Count waiting and running together: the worker admits from the queue on its own schedule.
            if (Occupied >= _options.MaxActiveSessions + _options.MaxQueuedSessions)
                throw new CapacityExceededException(TimeSpan.FromSeconds(2), $"{_active.Count} sessions running and {_waiting.Count + _waitingBackground.Count} waiting");
            (options.Background ? _waitingBackground : _waiting).Enqueue(session);
        }
        _wake.Release();

        try
        {
            await foreach (var token in session.Output.Reader.ReadAllAsync(cancellation).ConfigureAwait(false))
                yield return token;
        }
        finally
        {
            // The consumer stopped (done, cancelled or gone): the worker drops the session at its next step.
            session.Cancelled = true;
            _wake.Release();
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _wake.Release();
        _worker.Join();
        _wake.Dispose();
        _stopping.Dispose();
    }

    private void Require(string model)
    {
        if (FindModel(model) == null)
            throw new UnknownModelException(model);
    }

    private void Run()
    {
        var stage = _model.Stage;
        var batch = new List<BatchSequence>();
        var tokens = new List<int>();
        var members = new List<(Session Session, bool Samples)>();
        while (!_stopping.IsCancellationRequested)
        {
            Admit(stage);
            var embedded = RunEmbeddingStep(stage); // between passes, on this thread: the stage is never shared
            if (_active.Count == 0)
            {
                if (!embedded)
                    _wake.Wait();
                continue;
            }

            batch.Clear();
            tokens.Clear();
            members.Clear();
            var prefillBudget = _options.PrefillTokensPerStep;
            foreach (var s in _active)
            {
                if (s.PrefillOffset < s.Prompt.Length)
                {
                    if (prefillBudget <= 0)
                        continue;
                    var count = Math.Min(prefillBudget, s.Prompt.Length - s.PrefillOffset);
                    tokens.AddRange(s.Prompt.AsSpan(s.PrefillOffset, count));
                    batch.Add(new BatchSequence(s.Cache!, count) { PromptLength = s.Prompt.Length });
                    s.PrefillOffset += count;
                    prefillBudget -= count;
                    members.Add((s, s.PrefillOffset == s.Prompt.Length));
                }
                else
                {
                    tokens.Add(s.History[^1]);
                    batch.Add(new BatchSequence(s.Cache!, 1) { PromptLength = s.Prompt.Length });
                    members.Add((s, true));
                }
            }

            var vocab = stage.Config.VocabSize;
            if (_logits.Length < batch.Count * vocab)
                _logits = new float[batch.Count * vocab];
            try
            {
                stage.Forward(CollectionsMarshal.AsSpan(batch), CollectionsMarshal.AsSpan(tokens), default, _logits);
            }
            catch (Exception e)
            {
                foreach (var (s, _) in members)
                    Finish(s, e);
                continue;
            }

            for (var i = 0; i < members.Count; i++)
            {
                var (s, samples) = members[i];
                if (!samples || s.Cancelled)
                    continue;
                try
                {
                    Emit(s, _logits.AsSpan(i * vocab, vocab));
                }
                catch (InvalidOperationException e)
                {
                    // A grammar no token can continue fails its own session, never the loop that serves the others.
                    Finish(s, e);
                }
            }
        }

        lock (_gate)
        {
            foreach (var s in _active.Concat(_waiting).Concat(_waitingBackground))
                s.Output.Writer.TryComplete(new ObjectDisposedException(nameof(LocalGenerationService)));
            _active.Clear();
            _waiting.Clear();
            _waitingBackground.Clear();
        }
        AbandonEmbeddings();
    }

    private void Admit(TransformerStage stage)
    {
        lock (_gate)
        {
            _active.RemoveAll(s =>
            {
                if (!s.Cancelled && !s.Done)
                    return false;
                s.Output.Writer.TryComplete();
                s.Cache?.Dispose(); // the loop's own thread, between passes: device memory goes back at once
                s.Cache = null;
                return true;
            });
            while (_active.Count < _options.MaxActiveSessions && (_waiting.TryDequeue(out var next) || _waitingBackground.TryDequeue(out next)))
            {
                if (next.Cancelled)
                {
                    next.Output.Writer.TryComplete();
                    continue;
                }
                next.Cache = stage.CreateCache(next.Limits.MaxPositions);
                _active.Add(next);
            }
        }
    }

    private void Emit(Session s, ReadOnlySpan<float> logits)
    {
        var step = s.History.Count - s.Prompt.Length;
        var id = s.Sampler.Sample(logits, CollectionsMarshal.AsSpan(s.History), step);
        var logProb = Sampler.LogProbability(logits, id);
        var top = s.Options.TopLogProbs > 0 ? Sampler.TopLogProbabilities(logits, s.Options.TopLogProbs) : null;
        s.History.Add(id);
        var finish = s.Limits.After(id, step + 1, s.Cache!.Length);
        s.Output.Writer.TryWrite(new GeneratedToken(id, s.Text.Next(id, finish), logProb, top, finish));
        if (finish is not null)
            Finish(s, null);
    }

    private static void Finish(Session s, Exception? error)
    {
        s.Done = true;
        s.Output.Writer.TryComplete(error);
    }

    private sealed class Session(int[] prompt, GenerationOptions options, GenerationLimits limits, Sampler sampler, Tokenizer tokenizer)
    {
        public int[] Prompt { get; } = prompt;
        public GenerationOptions Options { get; } = options;
        public GenerationLimits Limits { get; } = limits;
        public Sampler Sampler { get; } = sampler;
        public GenerationText Text { get; } = new(tokenizer, prompt);
        public List<int> History { get; } = new(prompt);
        public Channel<GeneratedToken> Output { get; } = Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        public KvCache? Cache { get; set; }
        public int PrefillOffset { get; set; }
        public volatile bool Cancelled;
        public volatile bool Done;
    }
}
