using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Tessera.Cli.Http;
using Tessera.Engine.Templates;
using Tessera.Generation;

namespace Tessera.Cli.Chat;

/// <summary>Chats through any OpenAI-compatible <c>/v1/chat/completions</c> endpoint with streaming (SSE).</summary>
internal sealed class OpenAiChatBackend : IChatBackend
{
    private readonly HttpClient _http;
    private readonly string _model;

    public OpenAiChatBackend(HttpClient http, string baseUrl, string model, string? apiKey)
    {
        _http = http;
        _http.BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/");
        _http.Timeout = Timeout.InfiniteTimeSpan;
        if (!string.IsNullOrEmpty(apiKey))
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        _model = model;
    }

    public string Description => $"{_model} at {_http.BaseAddress}";

    public async IAsyncEnumerable<string> ReplyAsync(IReadOnlyList<ChatMessage> messages, ChatSettings settings,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        var body = new Dictionary<string, object?>
        {
            ["model"] = _model,
            ["messages"] = messages.Select(m => new Dictionary<string, string> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["stream"] = true,
            ["max_tokens"] = settings.MaxTokens,
            ["temperature"] = settings.Temperature,
            ["top_p"] = settings.TopP,
        };
        if (settings.Seed is { } seed)
            body["seed"] = seed;
        using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions")
        {
            Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        using var response = await SseData.SendAsync(_http, request, ErrorMessage, cancellation).ConfigureAwait(false);
        await foreach (var data in SseData.ReadAsync(response, cancellation).ConfigureAwait(false))
        {
            var piece = ContentOf(data);
            if (!string.IsNullOrEmpty(piece))
                yield return piece;
        }
    }

    /// <summary>The text delta of one <c>chat.completion.chunk</c>, or an error's message.</summary>
    internal static string? ContentOf(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.TryGetProperty("error", out var error))
            throw new InvalidOperationException(error.TryGetProperty("message", out var m) ? m.GetString() : error.ToString());
        if (!root.TryGetProperty("choices", out var choices) || choices.GetArrayLength() == 0)
            return null;
        var choice = choices[0];
        return choice.TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String
            ? content.GetString()
            : null;
    }

    private static string ErrorMessage(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("error", out var e) && e.TryGetProperty("message", out var m))
                return m.GetString() ?? body;
        }
        catch (JsonException)
        {
        }
        return body.Length > 300 ? body[..300] : body;
    }

    public void Dispose() => _http.Dispose();
}
