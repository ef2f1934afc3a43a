using System.Runtime.CompilerServices;
using System.Text;

namespace Tessera.Cli.Http;

/// <summary>Reading an OpenAI-style server-sent event stream: the payload of each <c>data:</c> line, up to <c>[DONE]</c>.</summary>
internal static class SseData
{
    public static async IAsyncEnumerable<string> ReadAsync(HttpResponseMessage response, [EnumeratorCancellation] CancellationToken cancellation)
    {
        using var stream = await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellation).ConfigureAwait(false) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
                continue;
            var data = line.AsSpan(5).Trim();
            if (data.SequenceEqual("[DONE]"))
                yield break;
            yield return data.ToString();
        }
    }

    /// <summary>Sends <paramref name="request"/> for a streamed answer; a non-success status throws with the body's first 300 characters.</summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, Func<string, string> describeError, CancellationToken cancellation)
    {
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            throw new InvalidOperationException($"The server answered {(int)response.StatusCode}: {describeError(text)}");
        }
    }
}
