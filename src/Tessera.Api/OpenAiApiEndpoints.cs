using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Hosting;
using Tessera.Api.Batches;
using Tessera.Generation;

namespace Tessera.Api;

/// <summary>Maps OpenAI's API under /v1 onto a generation service.</summary>
public static class OpenAiApiEndpoints
{
    /// <summary>
    /// Maps POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, GET /v1/models and GET /v1/models/{id}, every one
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
        v1.MapPost("/embeddings", handler.EmbeddingsAsync);
        v1.MapGet("/models", handler.ModelsAsync);
        v1.MapGet("/models/{**id}", handler.ModelAsync);
        if ((options ?? new OpenAiApiOptions()).Batches is { } batches)
            MapBatches(endpoints, v1, handler, generation, batches, options!.Time, logger);
        v1.Map("/{**path}", handler.UnknownPathAsync);
        return endpoints;
    }

    /// <summary>The Files and Batch endpoints, and the runner that works through batches while the host runs.</summary>
    private static void MapBatches(IEndpointRouteBuilder endpoints, RouteGroupBuilder v1, OpenAiHandler handler, ITextGenerationService generation,
        BatchOptions options, TimeProvider time, ILogger logger)
    {
        var store = new BatchStore(options.Directory, options.Files);
        var targets = new Dictionary<string, Func<HttpContext, Task>>(StringComparer.Ordinal)
        {
            ["/v1/chat/completions"] = handler.ChatCompletionsAsync,
            ["/v1/completions"] = handler.CompletionsAsync,
            ["/v1/embeddings"] = handler.EmbeddingsAsync,
        };
        var runner = new BatchRunner(store, (endpoint, http) => targets.TryGetValue(endpoint, out var target) ? target(http) : handler.UnknownPathAsync(http),
            generation, options, time, logger);
        var api = new BatchApi(store, runner, options, time);
        v1.MapPost("/files", http => handler.HandleAsync(http, grant => api.UploadAsync(http, grant)));
        v1.MapGet("/files", http => handler.HandleAsync(http, grant => api.ListFilesAsync(http, grant)));
        v1.MapGet("/files/{id}", http => handler.HandleAsync(http, grant => api.GetFileAsync(http, grant)));
        v1.MapGet("/files/{id}/content", http => handler.HandleAsync(http, grant => api.FileContentAsync(http, grant)));
        v1.MapDelete("/files/{id}", http => handler.HandleAsync(http, grant => api.DeleteFileAsync(http, grant)));
        v1.MapPost("/batches", http => handler.HandleAsync(http, async grant => await api.CreateBatchAsync(http, grant, await handler.ReadJsonAsync(http).ConfigureAwait(false)).ConfigureAwait(false)));
        v1.MapGet("/batches", http => handler.HandleAsync(http, grant => api.ListBatchesAsync(http, grant)));
        v1.MapGet("/batches/{id}", http => handler.HandleAsync(http, grant => api.GetBatchAsync(http, grant)));
        v1.MapPost("/batches/{id}/cancel", http => handler.HandleAsync(http, grant => api.CancelBatchAsync(http, grant)));

        var lifetime = endpoints.ServiceProvider.GetRequiredService<IHostApplicationLifetime>();
        var stopping = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        var running = Task.Run(() => runner.RunAsync(stopping.Token));
        lifetime.ApplicationStopping.Register(() =>
        {
            stopping.Cancel();
            running.Wait(TimeSpan.FromSeconds(15));
            store.Dispose();
            stopping.Dispose();
        });
    }
}
