using System.Text.Json;

namespace Tessera.Cli.Commands;

/// <summary>The message of an OpenAI-shaped error body (<c>{"error": {"message": ...}}</c>), for commands that call the API.</summary>
internal static class OpenAiErrorText
{
    /// <summary>The error's message, or the start of the body when it is not such an object.</summary>
    public static string Of(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.GetProperty("error").GetProperty("message").GetString() ?? body;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return body.Length > 200 ? body[..200] : body;
        }
    }
}
