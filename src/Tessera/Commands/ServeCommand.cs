using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Http;
using Tessera.Api;
using Tessera.Api.Batches;
using Tessera.Api.Keys;
using Tessera.Cli.Hosting;
using Tessera.Cli.Telemetry;
using Tessera.Distribution;
using Tessera.Engine.Gpu;
using Tessera.Engine.Generation;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera serve</c>: one local GGUF behind the OpenAI-compatible API, over plain HTTP.</summary>
internal static class ServeCommand
{
    public const string DefaultListen = "127.0.0.1:8080";

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "The model: " + ModelArgument.Forms + ". Without it, a small synthetic model is made once and reused." };
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT to listen on (plain HTTP; port 0 picks a free one).", DefaultValueFactory = _ => DefaultListen };
        var apiKey = new Option<string?>("--api-key") { Description = "The key clients must send (default: $TESSERA_API_KEY, else a new random tsk_ key, printed)." };
        var noAuth = new Option<bool>("--no-auth") { Description = "Accept requests without a key (loopback only)." };
        var name = new Option<string?>("--name") { Description = "Model id clients use (default: the file name without .gguf)." };
        var context = new Option<int?>("--context", "-c") { Description = "Context length per session (default: the model's)." };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: all cores).", DefaultValueFactory = _ => 0 };
        var sessions = new Option<int>("--max-sessions") { Description = "Sessions computed together; more wait in a queue.", DefaultValueFactory = _ => 8 };
        var device = ComputeDeviceOption.Create();
        var batchDir = new Option<string?>("--batch-dir") { Description = "Folder of the Batch API's jobs and, in its content/ folder, their files (default: jobs in $TESSERA_HOME/batches/NAME, ~/.tessera if unset, and files in the model cache)." };
        var queue = new Option<int>("--max-queue") { Description = "Sessions that may wait; beyond, requests get 429.", DefaultValueFactory = _ => 32 };
        var logFormat = PoolCli.LogFormatOption();
        var command = new Command("serve", "Serve a GGUF model on this machine behind an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models) and its Prometheus metrics (/metrics, with the same key).")
        {
            model, listen, apiKey, noAuth, name, context, threads, sessions, queue, device, batchDir, logFormat,
        };
        command.SetAction((result, ct) => CliErrors.RunAsync(() => RunAsync(
            result.GetValue(model), result.GetValue(listen)!, result.GetValue(apiKey), result.GetValue(noAuth), result.GetValue(name),
            result.GetValue(context), result.GetValue(threads), result.GetValue(sessions), result.GetValue(queue), result.GetValue(device)!,
            result.GetValue(batchDir), result.GetValue(logFormat), ct), result.GetValue(logFormat)));
        return command;
    }

    /// <summary>Parses ADDR:PORT, or PORT alone (loopback).</summary>
    public static IPEndPoint ParseListen(string text)
    {
        text = text.Trim();
        if (int.TryParse(text, out var port) && port is >= 0 and <= 65535)
            return new IPEndPoint(IPAddress.Loopback, port);
        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
            text = "127.0.0.1" + text["localhost".Length..];
        if (text.Contains(':') && IPEndPoint.TryParse(text, out var endpoint))
            return endpoint;
        throw new ArgumentException($"--listen '{text}' is not ADDR:PORT with an IP address, e.g. {DefaultListen} or 127.0.0.1:0.");
    }

    private static async Task<int> RunAsync(string? modelPath, string listenText, string? apiKey, bool noAuth, string? name, int? context,
        int threads, int maxSessions, int maxQueue, string device, string? batchDir, LogFormat logFormat, CancellationToken cancellation)
    {
        var listen = ParseListen(listenText);
        apiKey ??= Environment.GetEnvironmentVariable("TESSERA_API_KEY") is { Length: > 0 } fromEnv ? fromEnv : null;
        if (noAuth && apiKey is not null)
            throw new ArgumentException("--no-auth and --api-key exclude each other: choose one.");
        if (noAuth && !IPAddress.IsLoopback(listen.Address))
            throw new ArgumentException($"--no-auth is allowed on loopback only; {listen.Address} would open the model to the network without a key. Drop --no-auth (a key is made for you) or listen on 127.0.0.1.");
        if (maxSessions < 1 || maxQueue < 0)
            throw new ArgumentException("--max-sessions must be at least 1 and --max-queue at least 0.");
        var key = noAuth ? null : apiKey ?? ApiKeyFormat.NewKey();

        using var local = LocalModel.Load(await ModelArgument.ResolveAsync(modelPath, cancellation).ConfigureAwait(false), threads, context, device, DeviceBackendFactory.Instance);
        using var service = new LocalGenerationService(local, name, new LocalGenerationServiceOptions
        {
            MaxActiveSessions = maxSessions,
            MaxQueuedSessions = maxQueue,
            ContextLength = context,
        });
        using var signal = PoolCli.OnStopSignal(cancellation);
        using var logging = PoolCli.CreateLogging(verbose: false, logFormat);
        var output = new CommandOutput(logFormat, logging);
        var validator = key is null ? ApiKeyValidators.AllowAll : ApiKeyValidators.Single(key);
        using var metrics = new MetricsExporter();
        metrics.Add(new GenerationGauges(service, metrics.Factory));
        OpenAiServer server;
        try
        {
            var batches = new BatchOptions
            {
                Directory = batchDir ?? Path.Combine(DefaultModel.Home, "batches", service.ListModels()[0].Id),
                // By default the files sit in the content store the models are cached in, held there; --batch-dir keeps everything in one folder.
                Files = new ContentStoreBatchFiles(new ContentStore(batchDir is null ? ContentStore.DefaultRoot() : Path.Combine(batchDir, "content"))),
            };
            server = await OpenAiServer.StartAsync(listen, service, validator, new OpenAiApiOptions { Batches = batches },
                logging, endpoints => metrics.Map(endpoints).AddEndpointFilter(new ApiKeyFilter(validator)), signal.Token).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new IOException($"Cannot listen on {listen}: {e.Message}. Is another server using the port? Choose another with --listen ADDR:PORT.", e);
        }
        await using (server.ConfigureAwait(false))
        {
            var model = service.ListModels()[0];
            var baseUrl = new Uri(server.BaseAddress, "v1").ToString();
            output.Line($"Serving {model.Id} (context {model.ContextLength}) at {baseUrl}");
            output.Line(key is null ? "API key: none needed (--no-auth)" : $"API key: {key}");
            output.Line($"Metrics: {new Uri(server.BaseAddress, "metrics")} (Prometheus, with the same key)");
            if (!IPAddress.IsLoopback(listen.Address))
                output.Line("warning: plain HTTP: keys and text cross the network unencrypted. For a network endpoint use the pool's coordinator (TLS).");
            var auth = key is null ? "" : $" -H \"Authorization: Bearer {key}\"";
            output.Line($"Try: curl {baseUrl}/chat/completions{auth} -H \"Content-Type: application/json\" -d '{{\"model\":\"{model.Id}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'");
            output.Line("Press Ctrl+C to stop.");
            try
            {
                await Task.Delay(Timeout.Infinite, signal.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        return 0;
    }
}
