using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Hosting;
using Microsoft.OpenApi;
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
        var v1 = endpoints.MapGroup("/v1").WithTags("OpenAI").WithApiKeyInOpenApi();
        Operation(v1, HttpMethods.Post, "/chat/completions", handler.ChatCompletionsAsync, "Chat completion (OpenAI's), streamed as server-sent events with \"stream\": true")
            .WithBodyInOpenApi("application/json");
        Operation(v1, HttpMethods.Post, "/completions", handler.CompletionsAsync, "Text completion (OpenAI's legacy completions), streamed with \"stream\": true")
            .WithBodyInOpenApi("application/json");
        Operation(v1, HttpMethods.Post, "/embeddings", handler.EmbeddingsAsync, "Embeddings of one or more inputs").WithBodyInOpenApi("application/json");
        Operation(v1, HttpMethods.Get, "/models", handler.ModelsAsync, "The models this key may use");
        Operation(v1, HttpMethods.Get, "/models/{**id}", handler.ModelAsync, "One model");
        if ((options ?? new OpenAiApiOptions()).Batches is { } batches)
            MapBatches(endpoints, v1, handler, generation, batches, options!.Time, logger);
        // Not an operation: the answer, in OpenAI's error shape, to any other path under /v1.
        v1.Map("/{**path}", handler.UnknownPathAsync);
        return endpoints;
    }

    /// <summary>The scheme of the API keys in the OpenAPI document.</summary>
    public const string ApiKeyScheme = "apiKey";

    /// <summary>
    /// Says in the OpenAPI document (where the host generates one) that the group's operations need an API key; the
    /// handlers check it themselves (<see cref="IApiKeyValidator"/>).
    /// </summary>
    private static RouteGroupBuilder WithApiKeyInOpenApi(this RouteGroupBuilder group) => group.AddOpenApiOperationTransformer((operation, context, _) =>
    {
        context.Document?.AddComponent<IOpenApiSecurityScheme>(ApiKeyScheme, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key (tsk_...), from `tessera key create` on a pool or `tessera serve --api-key`.",
        });
        operation.Security ??= [];
        operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, context.Document)] = [] });
        return Task.CompletedTask;
    });

    /// <summary>
    /// Describes the request body in the OpenAPI document only. Not Accepts(): that is a routing rule too, and would
    /// answer 415 to a client that sends JSON with another Content-Type (curl -d does), which the handlers take today.
    /// </summary>
    private static RouteHandlerBuilder WithBodyInOpenApi(this RouteHandlerBuilder builder, string contentType) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType> { [contentType] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.Object } } },
            };
            return Task.CompletedTask;
        });

    /// <summary>
    /// Maps a handler as a route handler (a Func, not a RequestDelegate, which would bind the same): only route handlers
    /// reach ApiExplorer, so only they are in the OpenAPI document the hosts generate from their endpoints.
    /// </summary>
    private static RouteHandlerBuilder Operation(RouteGroupBuilder group, string method, string pattern, Func<HttpContext, Task> handler, string summary)
    {
        var builder = group.MapMethods(pattern, [method], handler).WithSummary(summary);
        // The handlers read their route values themselves, so nothing tells the generator of them: name them here.
        var parameters = RoutePatternFactory.Parse(pattern).Parameters;
        if (parameters.Count > 0)
        {
            builder.AddOpenApiOperationTransformer((operation, _, _) =>
            {
                operation.Parameters ??= [];
                foreach (var parameter in parameters.Where(p => !operation.Parameters.Any(o => o.Name == p.Name && o.In == ParameterLocation.Path)))
                    operation.Parameters.Add(new OpenApiParameter { Name = parameter.Name, In = ParameterLocation.Path, Required = true, Schema = new OpenApiSchema { Type = JsonSchemaType.String } });
                return Task.CompletedTask;
            });
        }
        return builder;
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
        Operation(v1, HttpMethods.Post, "/files", http => handler.HandleAsync(http, grant => api.UploadAsync(http, grant)),
            "Upload a JSONL file of batch requests (multipart/form-data: file, purpose=batch)").WithBodyInOpenApi("multipart/form-data");
        Operation(v1, HttpMethods.Get, "/files", http => handler.HandleAsync(http, grant => api.ListFilesAsync(http, grant)), "This key's files");
        Operation(v1, HttpMethods.Get, "/files/{id}", http => handler.HandleAsync(http, grant => api.GetFileAsync(http, grant)), "One file");
        Operation(v1, HttpMethods.Get, "/files/{id}/content", http => handler.HandleAsync(http, grant => api.FileContentAsync(http, grant)),
            "A file's content (a batch's output or errors, as JSONL)");
        Operation(v1, HttpMethods.Delete, "/files/{id}", http => handler.HandleAsync(http, grant => api.DeleteFileAsync(http, grant)), "Delete a file");
        Operation(v1, HttpMethods.Post, "/batches",
            http => handler.HandleAsync(http, async grant => await api.CreateBatchAsync(http, grant, await handler.ReadJsonAsync(http).ConfigureAwait(false)).ConfigureAwait(false)),
            "Run an uploaded file's requests as one batch job (OpenAI's Batch API)").WithBodyInOpenApi("application/json");
        Operation(v1, HttpMethods.Get, "/batches", http => handler.HandleAsync(http, grant => api.ListBatchesAsync(http, grant)), "This key's batches");
        Operation(v1, HttpMethods.Get, "/batches/{id}", http => handler.HandleAsync(http, grant => api.GetBatchAsync(http, grant)), "One batch and its progress");
        Operation(v1, HttpMethods.Post, "/batches/{id}/cancel", http => handler.HandleAsync(http, grant => api.CancelBatchAsync(http, grant)), "Cancel a batch");

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
