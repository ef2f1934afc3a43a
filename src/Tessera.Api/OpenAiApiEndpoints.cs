using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Generation;

namespace Tessera.Api;

/// <summary>Maps OpenAI's API under /v1 onto a generation service.</summary>
public static class OpenAiApiEndpoints
{
    /// <summary>
    /// Maps POST /v1/chat/completions, POST /v1/completions, GET /v1/models and GET /v1/models/{id}, every one
    /// behind <paramref name="keys"/>; any other /v1 path answers 404 in OpenAI's error shape.
    /// </summary>
    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder endpoints, ITextGenerationService generation, IApiKeyValidator keys, OpenAiApiOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(keys);
        var logger = endpoints.ServiceProvider.GetService<ILoggerFactory>()?.CreateLogger("Tessera.Api.OpenAi") ?? NullLogger.Instance;
        var handler = new OpenAiHandler(generation, keys, options ?? new OpenAiApiOptions(), logger);
        var v1 = endpoints.MapGroup("/v1");
        v1.MapPost("/chat/completions", handler.ChatCompletionsAsync);
        v1.MapPost("/completions", handler.CompletionsAsync);
        v1.MapGet("/models", handler.ModelsAsync);
        v1.MapGet("/models/{**id}", handler.ModelAsync);
        v1.Map("/{**path}", handler.UnknownPathAsync);
        return endpoints;
    }
}
