using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Tokenization;
using Tessera.Engine.Sampling;
using Tessera.Engine.Model;

namespace Tessera.Serving;

/// <summary>
/// A stage host as a network service: loads a layer range of a GGUF file and serves the stage protocol
/// (stage.proto) over HTTP/2, with mutual TLS under the pool CA, or h2c on loopback when allowed.
/// The same host runs from <c>tessera stage serve</c> and, later, inside an agent on the controller's command.
/// </summary>
public sealed class StageServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GgufFile _file;
    private readonly IComputeBackend _backend;

    private StageServer(WebApplication app, GgufFile file, IComputeBackend backend, StageHost host, IPEndPoint endpoint)
    {
        _app = app;
        _file = file;
        _backend = backend;
        Host = host;
        Endpoint = endpoint;
    }

    public StageHost Host { get; }

    /// <summary>The address it listens on, with the port chosen when 0 was asked for.</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>HOST:PORT for other stages and drivers.</summary>
    public string Address => Endpoint.ToString();

    /// <summary>What it computes on, for logs ("cpu-avx512 x 8", "gpu cuda NVIDIA H100 ...").</summary>
    public string BackendName => _backend.Name;

    public static async Task<StageServer> StartAsync(StageServerOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellation = default)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        if (options.Tls is null && !(options.AllowPlaintext && IPAddress.IsLoopback(options.Listen.Address)))
            throw new ArgumentException(options.AllowPlaintext
                ? $"Plain (unencrypted) stage traffic is only allowed on a loopback address, not {options.Listen.Address}; give the node's certificates instead."
                : "A stage needs the pool's certificates for mutual TLS (an agent's data directory), or an explicit plaintext flag on a loopback address.");

        var file = GgufFile.Open(options.ModelPath);
        IComputeBackend? backend = null;
        StageHost? host = null;
        try
        {
            var config = ModelConfig.FromGguf(file);
            if (options.Layers.Last > config.BlockCount || options.Layers.Count == 0)
                throw new ArgumentException($"Layers {options.Layers} are not a non-empty range of the model's {config.BlockCount} blocks (0-{config.BlockCount}).");
            backend = (options.Backends ?? CpuBackendFactory.Instance).Create(options.Device, options.Threads);
            var stage = new TransformerStage(file, options.Layers, backend, options.ContextLength);
            if (!stage.IsLast && options.Next is null)
                loggerFactory.CreateLogger<StageServer>().LogInformation("No --next: lanes must name their route");
            host = new StageHost(stage, new StageHostOptions
            {
                Activations = options.Activations,
                MaxBatchTokens = options.MaxBatchTokens,
                MaxSessions = options.MaxSessions,
                MaxLanes = options.MaxLanes,
                MicroBatches = options.MicroBatches,
                RouteKey = options.RouteKey,
                Next = options.Next,
                Tls = options.Tls,
                ModelName = Path.GetFileName(options.ModelPath),
                FaultSlowdown = options.FaultSlowdown,
                Vocabulary = stage.IsLast ? () => ConstraintVocabulary.For(Tokenizer.FromGguf(file.Metadata)) : null,
            }, loggerFactory.CreateLogger<StageHost>());

            var app = Build(options, host, loggerFactory);
            var endpoint = await StageKestrel.StartAsync(app, options.Listen, cancellation).ConfigureAwait(false);
            return new StageServer(app, file, backend, host, endpoint);
        }
        catch
        {
            host?.Dispose();
            host?.Stage.Dispose();
            backend?.Dispose();
            file.Dispose();
            throw;
        }
    }

    private static WebApplication Build(StageServerOptions options, StageHost host, ILoggerFactory loggerFactory)
    {
        var builder = StageKestrel.CreateBuilder(options.Listen, options.Tls, loggerFactory);
        builder.Services.AddSingleton(host);
        var app = builder.Build();
        app.MapGrpcService<StageService>();
        return app;
    }

    public ValueTask DisposeAsync() => StopAsync(TimeSpan.FromSeconds(5));

    /// <summary>Stops at once, aborting every lane as a crash would (tests of failure handling).</summary>
    internal ValueTask AbortAsync() => StopAsync(TimeSpan.Zero);

    private async ValueTask StopAsync(TimeSpan grace)
    {
        try
        {
            using var timeout = new CancellationTokenSource(grace);
            await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            Host.Dispose(); // joins the compute thread, so the stage's weights can go
            Host.Stage.Dispose();
            _backend.Dispose();
            _file.Dispose();
        }
    }
}
