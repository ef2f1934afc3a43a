using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Generation;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;

namespace Tessera.Cli.Hosting;

/// <summary>The message the dashboard's chat box sends.</summary>
public sealed record DashboardChatRequest(
    string? Model,
    IReadOnlyList<DashboardChatMessage>? Messages,
    [property: JsonPropertyName("max_tokens")] int? MaxTokens = null);

public sealed record DashboardChatMessage(string? Role, string? Content);

/// <summary>
/// What the dashboard needs beyond the pool's admin API, behind the same admin filter (key or signed-in browser):
/// <c>GET /api/serving/live</c> for its charts and <c>POST /api/dashboard/chat</c>, which streams a deployment's reply
/// as server-sent events (<c>data: {"text": ...}</c>, then <c>data: [DONE]</c>). The chat needs no API key: it is the
/// pool's administrator talking to the pool's models.
/// </summary>
internal static class DashboardServingEndpoints
{
    private const int MaxMessages = 64;
    private const int MaxChatTokens = 1024;

    public static void Map(IEndpointRouteBuilder app, CoordinatorContext pool, ServingLive serving)
    {
        var admin = app.MapGroup("/api").WithTags("Dashboard").RequireAdminKey(pool);
        admin.MapGet("/serving/live", () => serving.Live());
        admin.MapPost("/dashboard/chat", (HttpContext http, DashboardChatRequest? request) => ChatAsync(http, serving, request));
    }

    private static async Task ChatAsync(HttpContext http, ServingLive serving, DashboardChatRequest? request)
    {
        var cancellation = http.RequestAborted;
        if (request?.Model is not { Length: > 0 } model || request.Messages is not { Count: > 0 and <= MaxMessages } messages
            || messages.Any(m => m.Role is not ("user" or "assistant" or "system") || m.Content is null))
        {
            await Refuse(http, 400, $"Send a model and 1 to {MaxMessages} messages, each with a role (user, assistant or system) and content.").ConfigureAwait(false);
            return;
        }
        int[] prompt;
        try
        {
            prompt = serving.TokenizeChat(model, messages.Select(m => new ChatMessage(m.Role!, m.Content!)).ToList());
        }
        catch (UnknownModelException)
        {
            await Refuse(http, 404, $"No deployment '{model}' is serving. See the deployments panel.").ConfigureAwait(false);
            return;
        }
        catch (ConversationRejectedException ex)
        {
            await Refuse(http, 400, ex.Message).ConfigureAwait(false);
            return;
        }
        var options = new GenerationOptions(new SamplingParameters(), Math.Clamp(request.MaxTokens ?? 256, 1, MaxChatTokens));
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-store";
        try
        {
            await foreach (var token in serving.GenerateAsync(model, prompt, options, cancellation).ConfigureAwait(false))
            {
                if (token.Text.Length > 0)
                    await Send(http, new { text = token.Text }).ConfigureAwait(false);
            }
            await http.Response.WriteAsync("data: [DONE]\n\n", cancellation).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            // The chat box shows the message: a deployment starting, a full context, too many sessions, a failed stage.
            // Headers are sent by the first token; before it, this is still the answer's status.
            if (!http.Response.HasStarted)
                http.Response.StatusCode = ex is CapacityExceededException ? 429 : ex is UnknownModelException ? 404 : 400;
            await Send(http, new { error = ex.Message }).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The browser went away.
        }
    }

    private static async Task Send(HttpContext http, object payload)
    {
        await http.Response.WriteAsync($"data: {JsonSerializer.Serialize(payload)}\n\n", http.RequestAborted).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    private static Task Refuse(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new ErrorView(message), http.RequestAborted);
    }
}
