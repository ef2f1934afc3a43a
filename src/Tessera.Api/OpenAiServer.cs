using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tessera.Generation;

namespace Tessera.Api;

/// <summary>
/// A plain-HTTP Kestrel server with only the OpenAI endpoints and their OpenAPI document (<see cref="OpenApiPath"/>):
/// <c>tessera serve</c> on one machine, and tests. (The pool's coordinator maps the same endpoints into its own TLS server instead.)
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OpenAiServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>Where the OpenAPI document, generated from the endpoints, is served (without a key), as vLLM and llama.cpp's server do.</summary>
    public const string OpenApiPath = "/openapi.json";

    /// <summary>The server's root, e.g. <c>http://127.0.0.1:8080/</c>; OpenAI clients take <c>BaseAddress + "v1"</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Starts listening on <paramref name="endpoint"/> (port 0 picks a free one).</summary>
    /// <param name="mapEndpoints">Maps more endpoints beside /v1 (the CLI's /metrics); null: none.</param>
    public static async Task<OpenAiServer> StartAsync(IPEndPoint endpoint, ITextGenerationService generation, IApiKeyValidator keys,
        OpenAiApiOptions? options = null, ILoggerFactory? loggerFactory = null, Action<Microsoft.AspNetCore.Routing.IEndpointRouteBuilder>? mapEndpoints = null,
        CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
            builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, NoConsoleLifetime>();
        builder.Services.AddOpenApi(openApi => openApi.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new Microsoft.OpenApi.OpenApiInfo
            {
                Title = "Tessera OpenAI-compatible API",
                Version = typeof(OpenAiServer).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
                Description = "OpenAI's chat completions, completions, embeddings, models, files and batches over one model on this machine (`tessera serve`). "
                    + "Send 'Authorization: Bearer <API key>'.",
            };
            return Task.CompletedTask;
        }));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(endpoint);
        });
        var app = builder.Build();
        app.MapOpenAiApi(generation, keys, options);
        mapEndpoints?.Invoke(app);
        app.MapOpenApi(OpenApiPath);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "[::1]", StringComparison.Ordinal));
        return new OpenAiServer(app, new Uri(uri.GetLeftPart(UriPartial.Authority) + "/"));
    }

    /// <summary>The endpoints the server answers (its OpenAPI test compares them with the document).</summary>
    internal IReadOnlyList<Microsoft.AspNetCore.Http.Endpoint> Endpoints =>
        _app.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints;

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The host stops when its owner says so, not on Ctrl+C by itself (the CLI handles signals).</summary>
    private sealed class NoConsoleLifetime : Microsoft.Extensions.Hosting.IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
