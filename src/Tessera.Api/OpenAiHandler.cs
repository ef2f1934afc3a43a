using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Tessera.Api.Protocol;
using Tessera.Api.Streaming;
using Tessera.Api.Tools;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Api;

/// <summary>The request handlers behind <see cref="OpenAiApiEndpoints.MapOpenAiApi"/>.</summary>
internal sealed partial class OpenAiHandler(ITextGenerationService generation, IApiKeyValidator keys, OpenAiApiOptions options, ILogger logger)
{
    private readonly ITokenDecoder? _decoder = options.TokenDecoder ?? generation as ITokenDecoder;
    private readonly KeyRateLimiter _rates = new(options.Time);
    private readonly SemaphoreSlim _tokenizing = new(Environment.ProcessorCount, Environment.ProcessorCount);
    private int _preparing;

    private enum Kind
    {
        Chat,
        Completion,
    }

    public Task ChatCompletionsAsync(HttpContext http) => HandleMeteredAsync(http, ApiMetrics.Endpoints.Chat, async (grant, meter) =>
    {
        ParsedRequest request;
        ServedModel model;
        int[] prompt;
        using (EnterPreparation())
        {
            var body = await ReadJsonAsync(http).ConfigureAwait(false);
            request = RequestParser.ParseChat(body, options.DefaultSampling);
            model = Find(request.Model, grant, meter);
            request = ForcedToolCalls.Constrain(request, model.ToolCallFormat);
            var (messages, tools) = (request.Messages!, request.Tools);
            prompt = await TokenizeAdmittedAsync(model, () =>
            {
                try
                {
                    return generation.TokenizeChat(model.Id, messages, tools);
                }
                catch (ConversationRejectedException e)
                {
                    throw OpenAiError.Invalid($"The model's chat template rejects these messages: {e.Message}", "messages");
                }
                catch (InvalidOperationException e)
                {
                    throw OpenAiError.Invalid($"The model '{model.Id}' cannot chat: {e.Message}", "model");
                }
            }, http.RequestAborted).ConfigureAwait(false);
        }
        await GenerateAsync(http, Kind.Chat, request, model, prompt, meter).ConfigureAwait(false);
    });

    public Task CompletionsAsync(HttpContext http) => HandleMeteredAsync(http, ApiMetrics.Endpoints.Completions, async (grant, meter) =>
    {
        ParsedRequest request;
        ServedModel model;
        int[] prompt;
        using (EnterPreparation())
        {
            var body = await ReadJsonAsync(http).ConfigureAwait(false);
            request = RequestParser.ParseCompletion(body, options.DefaultSampling);
            model = Find(request.Model, grant, meter);
            if (request.Echo && request.Prompt is null)
                throw OpenAiError.Invalid("echo needs the prompt as text, not token ids.", "echo");
            var (tokens, text) = (request.PromptTokens, request.Prompt);
            prompt = await TokenizeAdmittedAsync(model, () => tokens ?? generation.TokenizePrompt(model.Id, text!), http.RequestAborted).ConfigureAwait(false);
        }
        await GenerateAsync(http, Kind.Completion, request, model, prompt, meter).ConfigureAwait(false);
    });

    /// <summary>
    /// Counts a request that is being read, parsed or tokenized: at most <see cref="OpenAiApiOptions.MaxPreparingRequests"/>
    /// at once, so a flood of large bodies costs bounded memory; beyond that, 429 before the body is read.
    /// </summary>
    private Preparation EnterPreparation()
    {
        if (Interlocked.Increment(ref _preparing) > options.MaxPreparingRequests)
        {
            Interlocked.Decrement(ref _preparing);
            throw OpenAiError.Busy(TimeSpan.FromSeconds(1), $"This server is reading {options.MaxPreparingRequests} requests already; retry in a second.");
        }
        return new Preparation(this);
    }

    private readonly struct Preparation(OpenAiHandler handler) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref handler._preparing);
    }

    /// <summary>
    /// Renders and tokenizes only for a model with room for the session, and at most one prompt per core at once: a
    /// full server answers 429 without spending CPU on the request, and tokenizing cannot starve the rest.
    /// </summary>
    private async Task<T> TokenizeAdmittedAsync<T>(ServedModel model, Func<T> tokenize, CancellationToken cancellation)
    {
        RequireRoom(model);
        await _tokenizing.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            RequireRoom(model); // it may have filled while this request waited
            return tokenize();
        }
        finally
        {
            _tokenizing.Release();
        }
    }

    private void RequireRoom(ServedModel model)
    {
        if (!generation.HasRoom(model.Id))
            throw OpenAiError.Busy(TimeSpan.FromSeconds(2), $"The model '{model.Id}' is running and queueing as many sessions as it can; retry in a few seconds.");
    }

    public Task ModelsAsync(HttpContext http) => HandleAsync(http, grant =>
        WriteJsonAsync(http, new ModelList(generation.ListModels().Where(m => grant.Allows(m.Id)).Select(ToObject).ToList()), OpenAiJsonContext.Relaxed.ModelList));

    public Task ModelAsync(HttpContext http) => HandleAsync(http, grant =>
    {
        var id = (string?)http.Request.RouteValues["id"] ?? string.Empty;
        return WriteJsonAsync(http, ToObject(Find(id, grant)), OpenAiJsonContext.Relaxed.ModelObject);
    });

    public Task UnknownPathAsync(HttpContext http) => HandleAsync(http, _ =>
        throw new OpenAiError(HttpStatusCode.NotFound, $"Invalid URL ({http.Request.Method} {http.Request.Path}). This server has POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, GET /v1/models and GET /v1/models/{{id}}.",
            "invalid_request_error"));

    private ModelObject ToObject(ServedModel m) =>
        new(m.Id, m.Created.ToUnixTimeSeconds(), string.IsNullOrEmpty(m.OwnedBy) ? options.OwnedBy : m.OwnedBy, m.ContextLength);

    /// <summary>The model, when the key may use it: a model outside the key's scope is answered as one that does not exist.</summary>
    private ServedModel Find(string id, ApiKeyGrant grant) =>
        (grant.Allows(id) ? generation.FindModel(id) : null) ?? throw OpenAiError.ModelNotFound(id);

    /// <summary>
    /// <see cref="Find(string, ApiKeyGrant)"/>, naming the request's deployment in <paramref name="meter"/> once the
    /// service knows the model: found, or known but unable to serve now (a deployment without a pipeline, 503).
    /// </summary>
    private ServedModel Find(string id, ApiKeyGrant grant, ApiMetrics.RequestMeter meter)
    {
        try
        {
            var model = Find(id, grant);
            meter.Deployment = model.Id;
            return model;
        }
        catch (Exception e) when (e is IRetryableError && grant.Allows(id))
        {
            meter.Deployment = id;
            throw;
        }
    }

    /// <summary>
    /// <see cref="HandleAsync"/> for a generation endpoint: the request is counted once answered, with its deployment (once
    /// <paramref name="body"/> has found the model) and status (<see cref="ApiMetrics"/>).
    /// </summary>
    private async Task HandleMeteredAsync(HttpContext http, string endpoint, Func<ApiKeyGrant, ApiMetrics.RequestMeter, Task> body)
    {
        var meter = new ApiMetrics.RequestMeter(endpoint);
        try
        {
            await HandleAsync(http, grant => body(grant, meter)).ConfigureAwait(false);
        }
        finally
        {
            meter.Answered(http);
        }
    }

    /// <summary>
    /// Checks the key and its rate, runs <paramref name="body"/> with what the key may do, and answers any error in
    /// OpenAI's shape (never with a stack trace).
    /// </summary>
    internal async Task HandleAsync(HttpContext http, Func<ApiKeyGrant, Task> body)
    {
        try
        {
            var grant = await AuthorizeAsync(http).ConfigureAwait(false);
            if (_rates.TryTake(grant) is { } wait)
                throw OpenAiError.RateLimited(wait, grant.RequestsPerMinute ?? 0);
            await body(grant).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (Exception e)
        {
            var error = Translate(e);
            if (error.Status == HttpStatusCode.InternalServerError)
                logger.LogRequestFailed(e, http.Request.Method, http.Request.Path);
            else if (e is IRetryableError { IsRetryable: true })
                logger.LogRequestRetryable(http.Request.Method, http.Request.Path, e.Message);
            if (!http.Response.HasStarted)
                await WriteErrorAsync(http, error).ConfigureAwait(false);
        }
    }

    private static OpenAiError Translate(Exception e) => e switch
    {
        OpenAiError error => error,
        UnknownModelException unknown => OpenAiError.ModelNotFound(unknown.Model),
        ContextFullException full => ContextTooLong(full.Needed - 1, full.ContextLength),
        CapacityExceededException busy => OpenAiError.Busy(busy.RetryAfter, busy.Message),
        IRetryableError { IsRetryable: true } transient => OpenAiError.Unavailable(transient.RetryAfter, transient.ClientMessage),
        ConversationRejectedException rejected => OpenAiError.Invalid($"The model's chat template rejects these messages: {rejected.Message}", "messages"),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => new OpenAiError(HttpStatusCode.RequestEntityTooLarge,
            "The request body is larger than this server reads. Send a shorter prompt or fewer messages.", "invalid_request_error", null, "request_too_large"),
        BadHttpRequestException bad => new OpenAiError((HttpStatusCode)bad.StatusCode, bad.Message, "invalid_request_error"),
        ArgumentException invalid => OpenAiError.Invalid(invalid.Message),
        _ => OpenAiError.Internal(),
    };

    private static OpenAiError ContextTooLong(int promptTokens, int contextLength) =>
        OpenAiError.Invalid($"This model's maximum context length is {contextLength} tokens, but the prompt has {promptTokens} tokens and at least one more is needed for the answer. Shorten the prompt or the messages.",
            "messages", "context_length_exceeded");

    private async Task<ApiKeyGrant> AuthorizeAsync(HttpContext http)
    {
        // A batch's line runs with the grant its batch was created with (set in-process; no request can carry it).
        if (http.Items.TryGetValue(Batches.BatchGrant.ItemKey, out var batchGrant) && batchGrant is ApiKeyGrant granted)
            return granted;
        var key = KeyOf(http.Request);
        if (await keys.ValidateAsync(key, http.RequestAborted).ConfigureAwait(false) is { } grant)
            return grant;
        throw key is null ? OpenAiError.MissingKey() : OpenAiError.WrongKey();
    }

    /// <summary>The key a request sends (<c>Authorization: Bearer KEY</c>, or the bare key), or null when it sends none.</summary>
    internal static string? KeyOf(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.Length == 0)
            return null;
        const string scheme = "Bearer ";
        var key = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : header.Trim();
        return key.Length == 0 ? null : key;
    }

    internal async Task<JsonElement> ReadJsonAsync(HttpContext http)
    {
        // The bound holds before anything is buffered: a declared length is checked, an undeclared one is cut off by Kestrel.
        if (http.Request.ContentLength > options.MaxRequestBodyBytes)
            throw OpenAiError.TooLarge(options.MaxRequestBodyBytes);
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
            bodySize.MaxRequestBodySize = options.MaxRequestBodyBytes;
        return await RequestParser.ReadBodyAsync(http.Request.Body, http.RequestAborted).ConfigureAwait(false);
    }

    private async Task GenerateAsync(HttpContext http, Kind kind, ParsedRequest request, ServedModel model, int[] prompt, ApiMetrics.RequestMeter meter)
    {
        if (prompt.Length == 0)
            throw OpenAiError.Invalid("The prompt is empty.", kind == Kind.Chat ? "messages" : "prompt");
        if (prompt.Length + 1 > model.ContextLength)
        {
            var tooLong = ContextTooLong(prompt.Length, model.ContextLength);
            throw kind == Kind.Chat ? tooLong : OpenAiError.Invalid(tooLong.Message, "prompt", tooLong.Code);
        }
        var room = model.ContextLength - prompt.Length;
        var maxTokens = Math.Min(request.MaxTokens ?? (kind == Kind.Chat ? room : options.DefaultCompletionMaxTokens), room);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var background = http.Items.ContainsKey(Batches.BatchGrant.ItemKey); // a batch line: after every interactive request
        var tokens = meter.Time(generation.GenerateAsync(model.Id, prompt, new GenerationOptions(request.Sampling, maxTokens, request.TopLogProbs, request.IgnoreEos)
        {
            Grammar = request.Grammar,
            Background = background,
        }, cancel.Token)
            .GetAsyncEnumerator(cancel.Token), background);
        try
        {
            // The first token decides the status code: errors before it (capacity, context) are still 4xx.
            var hasFirst = await tokens.MoveNextAsync().ConfigureAwait(false);
            meter.Prompt(prompt.Length);
            var run = new GenerationRun(tokens, hasFirst, request.Stop);
            var id = (kind == Kind.Chat ? "chatcmpl-" : "cmpl-") + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            var created = options.Time.GetUtcNow().ToUnixTimeSeconds();
            if (request.Stream)
                await StreamAsync(http, kind, request, model, prompt, run, id, created).ConfigureAwait(false);
            else
                await CompleteAsync(http, kind, request, model, prompt, run, id, created).ConfigureAwait(false);
        }
        finally
        {
            // Ends the session at once, whether it finished, hit a stop string, or the client left.
            await cancel.CancelAsync().ConfigureAwait(false);
            try
            {
                await tokens.DisposeAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private async Task CompleteAsync(HttpContext http, Kind kind, ParsedRequest request, ServedModel model, int[] prompt, GenerationRun run, string id, long created)
    {
        var text = new StringBuilder();
        if (request.Echo)
            text.Append(request.Prompt);
        var logprobs = request.LogProbs ? new LogProbCollector(this, model.Id, request.TopLogProbs, text.Length) : null;
        await foreach (var piece in run.PiecesAsync().ConfigureAwait(false))
        {
            text.Append(piece.Text);
            logprobs?.Add(piece.Tokens);
        }
        var usage = new Usage(prompt.Length, run.CompletionTokens, prompt.Length + run.CompletionTokens);
        if (kind == Kind.Chat)
        {
            var calls = request.Tools is { ExpectsCalls: true } tools ? model.ToolCallFormat.Parse(text.ToString(), tools) : null;
            var message = new ChatMessageOut("assistant", calls is null ? text.ToString() : calls.Content) { ToolCalls = ToolCallReplies.Message(calls) };
            var choice = new ChatChoice(0, message, logprobs?.Chat(), ToolCallReplies.FinishReason(calls, run.FinishReason));
            await WriteJsonAsync(http, new ChatCompletion(id, created, model.Id, [choice], usage), OpenAiJsonContext.Relaxed.ChatCompletion).ConfigureAwait(false);
        }
        else
        {
            var choice = new CompletionChoice(text.ToString(), 0, logprobs?.Completion(), run.FinishReason.ToApiString());
            await WriteJsonAsync(http, new Completion(id, created, model.Id, [choice], usage), OpenAiJsonContext.Relaxed.Completion).ConfigureAwait(false);
        }
    }

    private async Task StreamAsync(HttpContext http, Kind kind, ParsedRequest request, ServedModel model, int[] prompt, GenerationRun run, string id, long created)
    {
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ServerSentEvents.ContentType;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var ct = http.RequestAborted;

        async Task SendAsync<T>(T value, JsonTypeInfo<T> type)
        {
            await response.Body.WriteAsync(ServerSentEvents.Event(JsonSerializer.SerializeToUtf8Bytes(value, type)), ct).ConfigureAwait(false);
            await response.Body.FlushAsync(ct).ConfigureAwait(false);
        }

        if (kind == Kind.Chat)
            await SendAsync(new ChatCompletionChunk(id, created, model.Id, [new ChatChunkChoice(0, new ChatDelta("assistant", ""), null, null)], null), OpenAiJsonContext.Relaxed.ChatCompletionChunk).ConfigureAwait(false);
        else if (request.Echo)
            await SendAsync(new Completion(id, created, model.Id, [new CompletionChoice(request.Prompt!, 0, null, null)], null), OpenAiJsonContext.Relaxed.Completion).ConfigureAwait(false);

        var offset = request.Echo ? request.Prompt!.Length : 0;
        var toolCalls = kind == Kind.Chat && request.Tools is { ExpectsCalls: true } tools ? new ToolCallStream(model.ToolCallFormat, tools) : null;
        ToolCallOutput? calls = null;
        try
        {
            await foreach (var piece in run.PiecesAsync().ConfigureAwait(false))
            {
                var logprobs = request.LogProbs && piece.Tokens.Count > 0 ? new LogProbCollector(this, model.Id, request.TopLogProbs, offset) : null;
                logprobs?.Add(piece.Tokens);
                offset += piece.Text.Length;
                var text = toolCalls?.Push(piece.Text) ?? piece.Text; // text that may start a tool call is held back
                if (text.Length == 0 && logprobs is null)
                    continue;
                if (kind == Kind.Chat)
                    await SendAsync(new ChatCompletionChunk(id, created, model.Id, [new ChatChunkChoice(0, new ChatDelta(null, text), logprobs?.Chat(), null)], null), OpenAiJsonContext.Relaxed.ChatCompletionChunk).ConfigureAwait(false);
                else
                    await SendAsync(new Completion(id, created, model.Id, [new CompletionChoice(piece.Text, 0, logprobs?.Completion(), null)], null), OpenAiJsonContext.Relaxed.Completion).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // Headers are sent: report the error as an event, as OpenAI does, and end the stream.
            var error = Translate(e);
            if (error.Status == HttpStatusCode.InternalServerError)
                logger.LogStreamFailed(e, id);
            else if (e is IRetryableError { IsRetryable: true })
                logger.LogRequestRetryable("stream", id, e.Message);
            await SendAsync(Envelope(error), OpenAiJsonContext.Relaxed.ErrorEnvelope).ConfigureAwait(false);
            return;
        }

        if (toolCalls is not null)
        {
            calls = toolCalls.Finish();
            var deltas = ToolCallReplies.Deltas(calls);
            if (calls.Content is { } rest)
                deltas = deltas.Prepend(new ChatDelta(null, rest));
            foreach (var delta in deltas)
                await SendAsync(new ChatCompletionChunk(id, created, model.Id, [new ChatChunkChoice(0, delta, null, null)], null), OpenAiJsonContext.Relaxed.ChatCompletionChunk).ConfigureAwait(false);
        }
        if (kind == Kind.Chat)
            await SendAsync(new ChatCompletionChunk(id, created, model.Id, [new ChatChunkChoice(0, new ChatDelta(null, null), null, ToolCallReplies.FinishReason(calls, run.FinishReason))], null), OpenAiJsonContext.Relaxed.ChatCompletionChunk).ConfigureAwait(false);
        else
            await SendAsync(new Completion(id, created, model.Id, [new CompletionChoice(string.Empty, 0, null, run.FinishReason.ToApiString())], null), OpenAiJsonContext.Relaxed.Completion).ConfigureAwait(false);
        if (request.IncludeUsage)
        {
            var usage = new Usage(prompt.Length, run.CompletionTokens, prompt.Length + run.CompletionTokens);
            if (kind == Kind.Chat)
                await SendAsync(new ChatCompletionChunk(id, created, model.Id, [], usage), OpenAiJsonContext.Relaxed.ChatCompletionChunk).ConfigureAwait(false);
            else
                await SendAsync(new Completion(id, created, model.Id, [], usage), OpenAiJsonContext.Relaxed.Completion).ConfigureAwait(false);
        }
        await response.Body.WriteAsync(ServerSentEvents.Done, ct).ConfigureAwait(false);
        await response.Body.FlushAsync(ct).ConfigureAwait(false);
    }

    private static Task WriteJsonAsync<T>(HttpContext http, T value, JsonTypeInfo<T> type)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        return http.Response.WriteAsJsonAsync(value, type, "application/json", http.RequestAborted);
    }

    internal static ErrorEnvelope Envelope(OpenAiError error) => new(new ErrorBody(error.Message, error.Type, error.Param, error.Code));

    internal static Task WriteErrorAsync(HttpContext http, OpenAiError error)
    {
        http.Response.StatusCode = (int)error.Status;
        if (error.RetryAfter is { } retry)
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return http.Response.WriteAsJsonAsync(Envelope(error), OpenAiJsonContext.Relaxed.ErrorEnvelope, "application/json", CancellationToken.None);
    }

    /// <summary>Log-probabilities of released tokens, in the chat or the completions format.</summary>
    private sealed class LogProbCollector(OpenAiHandler owner, string model, int top, int textOffset)
    {
        private readonly List<(GeneratedToken Token, int Offset)> _tokens = [];
        private int _offset = textOffset;

        public void Add(IReadOnlyList<GeneratedToken> tokens)
        {
            foreach (var token in tokens)
            {
                _tokens.Add((token, _offset));
                _offset += token.Text.Length;
            }
        }

        public ChatLogProbs Chat() => new(_tokens.Select(t => new TokenLogProb(
            t.Token.Text, Finite(t.Token.LogProb), Bytes(Encoding.UTF8.GetBytes(t.Token.Text)),
            (t.Token.TopLogProbs ?? []).Take(top).Select(a =>
            {
                var bytes = owner.Spell(model, a.Id);
                return new TopLogProb(Text(bytes, a.Id), Finite(a.LogProb), bytes is null ? null : Bytes(bytes));
            }).ToList())).ToList());

        public CompletionLogProbs Completion() => new(
            _tokens.Select(t => t.Token.Text).ToList(),
            _tokens.Select(t => Finite(t.Token.LogProb)).ToList(),
            _tokens.Select(t =>
            {
                var alternatives = new Dictionary<string, float>(StringComparer.Ordinal);
                foreach (var a in (t.Token.TopLogProbs ?? []).Take(top))
                    alternatives.TryAdd(Text(owner.Spell(model, a.Id), a.Id), Finite(a.LogProb));
                return alternatives;
            }).ToList(),
            _tokens.Select(t => t.Offset).ToList());

        private static int[] Bytes(byte[] bytes) => Array.ConvertAll(bytes, b => (int)b);

        private static string Text(byte[]? bytes, int id) => bytes is null ? $"<token {id}>" : Encoding.UTF8.GetString(bytes);

        /// <summary>JSON has no infinities: an impossible token gets OpenAI's floor of -9999.</summary>
        private static float Finite(float logProb) => float.IsFinite(logProb) ? logProb : -9999f;
    }

    private byte[]? Spell(string model, int tokenId)
    {
        try
        {
            return _decoder?.TokenBytes(model, tokenId);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
