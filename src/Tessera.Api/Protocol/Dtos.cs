using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tessera.Generation;

namespace Tessera.Api.Protocol;

// The response objects of OpenAI's API, serialized snake_case by OpenAiJsonContext.

internal sealed record ErrorEnvelope(ErrorBody Error);

internal sealed record ErrorBody(string Message, string Type, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

internal sealed record ModelObject(string Id, long Created, string OwnedBy, int ContextLength)
{
    [JsonPropertyOrder(-1)]
    public string Object => "model";
}

internal sealed record ModelList(IReadOnlyList<ModelObject> Data)
{
    [JsonPropertyOrder(-1)]
    public string Object => "list";
}

internal sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

internal sealed record TopLogProb(string Token, float Logprob, IReadOnlyList<int>? Bytes);

internal sealed record TokenLogProb(string Token, float Logprob, IReadOnlyList<int>? Bytes, IReadOnlyList<TopLogProb> TopLogprobs);

internal sealed record ChatLogProbs(IReadOnlyList<TokenLogProb> Content)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public object? Refusal => null;
}

internal sealed record ChatMessageOut(string Role, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Content)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public object? Refusal => null;

    /// <summary>The calls the model made; absent when none.</summary>
    public IReadOnlyList<ToolCallOut>? ToolCalls { get; init; }
}

/// <summary>A tool call in a reply; in a stream, <c>index</c> says which call a chunk continues, and later chunks carry only the arguments.</summary>
internal sealed record ToolCallOut(int? Index, string? Id, string? Type, FunctionCallOut Function);

internal sealed record FunctionCallOut(string? Name, string? Arguments);

internal sealed record ChatChoice(int Index, ChatMessageOut Message, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ChatLogProbs? Logprobs, string FinishReason);

internal sealed record ChatCompletion(string Id, long Created, string Model, IReadOnlyList<ChatChoice> Choices, Usage Usage)
{
    [JsonPropertyOrder(-1)]
    public string Object => "chat.completion";

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? SystemFingerprint => null;
}

internal sealed record ChatDelta(string? Role, string? Content)
{
    public IReadOnlyList<ToolCallOut>? ToolCalls { get; init; }
}

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ChatLogProbs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

internal sealed record ChatCompletionChunk(string Id, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] Usage? Usage)
{
    [JsonPropertyOrder(-1)]
    public string Object => "chat.completion.chunk";

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? SystemFingerprint => null;
}

internal sealed record CompletionLogProbs(IReadOnlyList<string> Tokens, IReadOnlyList<float> TokenLogprobs,
    IReadOnlyList<Dictionary<string, float>> TopLogprobs, IReadOnlyList<int> TextOffset);

internal sealed record CompletionChoice(string Text, int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] CompletionLogProbs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

internal sealed record Completion(string Id, long Created, string Model, IReadOnlyList<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage)
{
    [JsonPropertyOrder(-1)]
    public string Object => "text_completion";

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? SystemFingerprint => null;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ErrorEnvelope))]
[JsonSerializable(typeof(ModelObject))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(Completion))]
internal sealed partial class OpenAiJsonContext : JsonSerializerContext
{
    /// <summary>Writes non-ASCII text as UTF-8 rather than \u escapes, as OpenAI does.</summary>
    public static OpenAiJsonContext Relaxed { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
