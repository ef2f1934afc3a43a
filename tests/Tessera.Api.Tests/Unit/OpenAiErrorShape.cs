using System.Text.Json;

namespace Tessera.Api.Tests.Unit;

/// <summary>OpenAI's error shape, as its client libraries read it: the one check every test of an error answer makes.</summary>
internal static class OpenAiErrorShape
{
    /// <summary>
    /// Asserts that <paramref name="response"/> carries <c>{"error":{"message","type","param","code"}}</c> as JSON,
    /// with a message and no stack trace, and returns the error object.
    /// </summary>
    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        var error = doc.RootElement.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        Assert.DoesNotContain("   at ", body); // never a stack trace
        return error.Clone();
    }
}
