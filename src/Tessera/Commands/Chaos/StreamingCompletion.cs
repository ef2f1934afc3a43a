using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>What one chaos request asks for: a prompt and its sampling (greedy, or seeded so the text is reproducible).</summary>
internal sealed record ChaosPrompt(string Prompt, float Temperature, ulong? Seed)
{
    public string Sampling => Seed is { } seed ? $"temperature {Temperature:0.##}, seed {seed}" : "greedy";
}

/// <summary>How one attempt of a request ended.</summary>
internal enum AttemptEnd
{
    /// <summary>The stream ended with [DONE].</summary>
    Done,

    /// <summary>An HTTP status other than 200 before the stream (503 and 429 carry Retry-After).</summary>
    Refused,

    /// <summary>The stream carried an error event.</summary>
    ErrorEvent,

    /// <summary>The connection could not be made or broke before [DONE] (the coordinator died).</summary>
    Broken,
}

/// <summary>
/// One attempt: how it ended, the text received, when each piece arrived (Stopwatch timestamps) with the text's length
/// after it, and the completion tokens the server counted.
/// </summary>
internal sealed record Attempt(AttemptEnd End, int Status, string Text, string? Error, TimeSpan? RetryAfter, long Started, long Ended,
    IReadOnlyList<long> Arrivals, IReadOnlyList<int> Lengths, int Tokens)
{
    /// <summary>True when sending the same request again is the documented way to resume (docs/api.md).</summary>
    public bool Retryable => End is AttemptEnd.Broken or AttemptEnd.ErrorEvent || Status is 503 or 429;
}

/// <summary>One streaming POST /v1/completions, read as server-sent events, with every failure mode turned into an <see cref="Attempt"/>.</summary>
internal static class StreamingCompletion
{
    public static async Task<Attempt> SendAsync(HttpClient http, string model, ChaosPrompt prompt, int maxTokens, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var text = new StringBuilder();
        var arrivals = new List<long>();
        var lengths = new List<int>();
        var tokens = 0;
        var body = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["model"] = model,
            ["prompt"] = prompt.Prompt,
            ["max_tokens"] = maxTokens,
            ["temperature"] = prompt.Temperature,
            ["seed"] = prompt.Seed,
            ["stream"] = true,
            ["stream_options"] = new Dictionary<string, bool> { ["include_usage"] = true },
        });
        Attempt End(AttemptEnd end, int status, string? error, TimeSpan? retryAfter = null) =>
            new(end, status, text.ToString(), error, retryAfter, started, Stopwatch.GetTimestamp(), arrivals, lengths, tokens);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var detail = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                return End(AttemptEnd.Refused, (int)response.StatusCode, OpenAiErrorText.Of(detail), response.Headers.RetryAfter?.Delta);
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    continue;
                var data = line["data: ".Length..];
                if (data == "[DONE]")
                    return End(AttemptEnd.Done, 200, null);
                using var document = JsonDocument.Parse(data);
                var root = document.RootElement;
                if (root.TryGetProperty("error", out var error))
                    return End(AttemptEnd.ErrorEvent, 200, error.TryGetProperty("message", out var m) ? m.GetString() : error.GetRawText());
                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    tokens = usage.GetProperty("completion_tokens").GetInt32();
                if (!root.TryGetProperty("choices", out var choices))
                    continue;
                foreach (var choice in choices.EnumerateArray())
                {
                    var piece = choice.GetProperty("text").GetString();
                    if (string.IsNullOrEmpty(piece))
                        continue;
                    text.Append(piece);
                    arrivals.Add(Stopwatch.GetTimestamp());
                    lengths.Add(text.Length);
                }
            }
            return End(AttemptEnd.Broken, 200, "the stream ended without [DONE]");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return End(AttemptEnd.Broken, 0, ex.Message);
        }
        catch (JsonException ex)
        {
            return End(AttemptEnd.ErrorEvent, 200, "an event that is not JSON: " + ex.Message);
        }
    }
}
