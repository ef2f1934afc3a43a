using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Tessera.Cli.Http;
using Tessera.Serving;

namespace Tessera.Cli.Bench;

/// <summary>
/// Streams completions from an OpenAI-compatible <c>/v1/completions</c> endpoint for <see cref="PipelineBenchmark"/>:
/// the prompt goes as token ids, greedy, <c>ignore_eos</c> so every stream runs its full length, and
/// <c>logprobs: 0</c> so each event says how many tokens it carries (a piece held back by the detokenizer or a stop
/// string can carry several). Yields one value per generated token, as it arrives.
/// </summary>
internal sealed class ApiTokenSource(HttpClient http, string model)
{
    /// <summary>Token ids below this exist in every vocabulary a deployment can have, so random prompts use them.</summary>
    public const int SafeVocabulary = 1000;

    public async IAsyncEnumerable<int> GenerateAsync(int[] prompt, int maxTokens, [EnumeratorCancellation] CancellationToken cancellation)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = model,
            ["prompt"] = prompt,
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["ignore_eos"] = true,
            ["logprobs"] = 0,
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, "completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await SseData.SendAsync(http, request, text => text.Length > 300 ? text[..300] : text, cancellation).ConfigureAwait(false);
        await foreach (var data in SseData.ReadAsync(response, cancellation).ConfigureAwait(false))
        {
            var tokens = TokensIn(data);
            for (var i = 0; i < tokens; i++)
                yield return 0;
        }
    }

    /// <summary>How many generated tokens one streamed completion event carries; throws on an error event.</summary>
    internal static int TokensIn(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.TryGetProperty("error", out var error))
            throw new InvalidOperationException("The stream ended with an error: " + (error.TryGetProperty("message", out var m) ? m.GetString() : error.ToString()));
        if (!root.TryGetProperty("choices", out var choices) || choices.GetArrayLength() == 0)
            return 0;
        return choices[0].TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.Object
            && lp.TryGetProperty("tokens", out var tokens) && tokens.ValueKind == JsonValueKind.Array
            ? tokens.GetArrayLength()
            : 0;
    }

    /// <summary>An HTTP client for the endpoint at <paramref name="baseUrl"/> (…/v1) with the key and, for https, the CA to trust.</summary>
    public static HttpClient CreateClient(string baseUrl, string? apiKey, string? caCertificate)
    {
        var http = caCertificate == null ? new HttpClient() : new HttpClient(Commands.ChatCommand.TrustingOnly(caCertificate), disposeHandler: true);
        http.BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/");
        http.Timeout = Timeout.InfiniteTimeSpan;
        if (!string.IsNullOrEmpty(apiKey))
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return http;
    }
}
