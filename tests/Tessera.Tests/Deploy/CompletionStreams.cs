using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Tessera.Deploy;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Deploy;

/// <summary>Greedy completions for the deploy process tests: the one-process reference and a stream through /v1.</summary>
internal static class CompletionStreams
{
    public static async Task<string> ReferenceAsync(string model, string prompt, int tokens)
    {
        var reference = await TesseraProcess.RunAsync(["generate", "-m", model, "-p", prompt, "-n", tokens.ToString(CultureInfo.InvariantCulture),
            "--temperature", "0", "--threads", "1", "-o", "json"], TimeSpan.FromSeconds(60));
        Assert.True(reference.ExitCode == 0, reference.Stderr);
        return string.Concat(reference.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Where(e => e.TryGetProperty("id", out _))
            .Select(e => e.GetProperty("text").GetString()));
    }

    /// <summary>The failure-free reference of each prompt.</summary>
    public static async Task<string[]> ReferencesAsync(string model, IReadOnlyList<string> prompts, int tokens)
    {
        var expected = new string[prompts.Count];
        for (var i = 0; i < prompts.Count; i++)
            expected[i] = await ReferenceAsync(model, prompts[i], tokens);
        return expected;
    }

    internal sealed record StreamResult(string Text, string? Error, List<long> Arrivals)
    {
        /// <summary>The longest wait between two pieces of text around <paramref name="timestamp"/> (the pause the failure caused).</summary>
        public TimeSpan LongestGapAfter(long timestamp)
        {
            var gap = TimeSpan.Zero;
            for (var i = 1; i < Arrivals.Count; i++)
            {
                if (Arrivals[i] >= timestamp)
                    gap = TimeSpan.FromTicks(Math.Max(gap.Ticks, Stopwatch.GetElapsedTime(Arrivals[i - 1], Arrivals[i]).Ticks));
            }
            return gap;
        }
    }

    /// <summary>A streaming greedy completion of <paramref name="deployment"/> through /v1; <paramref name="onPiece"/> sees the count of pieces so far.</summary>
    public static async Task<StreamResult> StreamAsync(HttpClient http, string deployment, string prompt, int tokens, Action<int>? onPiece)
    {
        var body = JsonSerializer.Serialize(new { model = deployment, prompt, max_tokens = tokens, temperature = 0, stream = true });
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
            return new StreamResult("", $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}", []);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var text = new StringBuilder();
        var arrivals = new List<long>();
        string? error = null;
        var done = false;
        while (await ReadLineAsync(reader) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
                continue;
            var data = line["data: ".Length..];
            if (data == "[DONE]")
            {
                done = true;
                break;
            }
            var root = JsonDocument.Parse(data).RootElement;
            if (root.TryGetProperty("error", out var e))
            {
                error = e.GetRawText();
                break;
            }
            var piece = root.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString()).FirstOrDefault();
            if (string.IsNullOrEmpty(piece))
                continue;
            text.Append(piece);
            arrivals.Add(Stopwatch.GetTimestamp());
            onPiece?.Invoke(arrivals.Count);
        }
        // A stream that ends without [DONE] or an error event lost its connection (the coordinator died).
        return new StreamResult(text.ToString(), error ?? (done ? null : "the connection broke before [DONE]"), arrivals);
    }

    /// <summary>The next line, or null when the connection ended or broke (a dead server is an end of stream here).</summary>
    private static async Task<string?> ReadLineAsync(StreamReader reader)
    {
        try
        {
            return await reader.ReadLineAsync();
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return null;
        }
    }
}
