using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Tessera.Cli.Bench;
using Tessera.Engine.Backends;
using Tessera.Engine.Gpu;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Pool.Coordinator;
using Tessera.Serving;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera stage</c>: run a pipeline stage by hand, inspect stages, drive a chain of them, measure it.</summary>
internal static class StageCommand
{
    public static Command Create()
    {
        var command = new Command("stage", "Run one pipeline stage (a layer range of a model) as its own process, and drive or measure a chain of stages.");
        command.Subcommands.Add(Serve());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Generate());
        command.Subcommands.Add(Bench());
        return command;
    }

    private static Command Serve()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model file.", Required = true };
        var layers = new Option<string>("--layers", "-l") { Description = "Blocks to run, first inclusive, last exclusive (e.g. 0-11).", Required = true };
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT to listen on (port 0: any free one, printed).", DefaultValueFactory = _ => "127.0.0.1:0" };
        var next = new Option<string?>("--next") { Description = "HOST:PORT of the next stage (not needed when drivers name the route, nor for the last stage)." };
        var activations = new Option<string>("--activations") { Description = "Hidden states sent to the next stage: f16 (default), f32 (exact) or q8.", DefaultValueFactory = _ => "f16" };
        activations.AcceptOnlyFromAmong("f16", "f32", "q8");
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: all cores).", DefaultValueFactory = _ => 0 };
        var context = new Option<int?>("--context", "-c") { Description = "Context per session (default: the model's)." };
        var device = ComputeDeviceOption.Create();
        var batch = new Option<int>("--max-batch-tokens") { Description = "Positions per forward pass; longer prompts go in chunks.", DefaultValueFactory = _ => 256 };
        var tlsDir = new Option<string?>("--tls-dir") { Description = "An agent's data directory (node.crt, node.key, ca.crt): mutual TLS with the pool's certificates." };
        var plaintext = new Option<bool>("--plaintext") { Description = "Serve unencrypted h2c: only on a loopback address, for tests and benchmarks." };
        var microBatches = new Option<int>("--micro-batches")
        {
            Description = "First stage only: groups its decoding sessions are split into so the stages of several machines compute at once (0: one per host in the route, 1: one batch).",
            DefaultValueFactory = _ => 0,
        };
        var logFormat = PoolCli.LogFormatOption();
        var cmd = new Command("serve", "Host a layer range of a model and serve the stage protocol until stopped (SIGINT/SIGTERM).")
        {
            model, layers, listen, next, activations, threads, context, device, batch, tlsDir, plaintext, microBatches, logFormat,
        };
        cmd.SetAction((result, invocation) => CliErrors.RunAsync(async () =>
        {
            using var stopping = PoolCli.OnStopSignal(invocation);
            var tls = result.GetValue(tlsDir) is { } dir ? StageTls.FromAgentDirectory(dir) : null;
            if (tls is null && !result.GetValue(plaintext))
                throw new ArgumentException("Give --tls-dir (an agent's data directory, for mutual TLS) or --plaintext (loopback only).");
            var options = new StageServerOptions
            {
                ModelPath = result.GetValue(model)!,
                Layers = LayerRange.Parse(result.GetValue(layers)!),
                Listen = ParseListen(result.GetValue(listen)!),
                Next = result.GetValue(next),
                Activations = ActivationFormats.Parse(result.GetValue(activations)!),
                Threads = result.GetValue(threads),
                Device = result.GetValue(device)!,
                Backends = DeviceBackendFactory.Instance,
                ContextLength = result.GetValue(context),
                MaxBatchTokens = Math.Max(1, result.GetValue(batch)),
                MicroBatches = Math.Max(0, result.GetValue(microBatches)),
                Tls = tls,
                AllowPlaintext = result.GetValue(plaintext),
            };
            using var logging = PoolCli.CreateLogging(verbose: false, result.GetValue(logFormat));
            var output = new CommandOutput(result.GetValue(logFormat), logging);
            await using var server = await StageServer.StartAsync(options, logging, stopping.Token).ConfigureAwait(false);
            var s = server.Host.Stage;
            output.Line($"Stage for layers {s.Range} of {s.Config.BlockCount} ({Path.GetFileName(options.ModelPath)}, {s.Backend.Name}, {ActivationFormats.Name(options.Activations)} out) listening on {server.Address}{(tls is null ? " (plaintext)" : " (mTLS)")}");
            Console.Out.Flush();
            try
            {
                await Task.Delay(Timeout.Infinite, stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            output.Line("Stage stopping.");
            return 0;
        }, result.GetValue(logFormat)));
        return cmd;
    }

    private static Command Status()
    {
        var stages = StagesOption();
        var tlsDir = TlsDirOption();
        var output = PoolCli.OutputOption();
        var cmd = new Command("status", "Show each stage's layers, live sessions, lanes and counters.") { stages, tlsDir, output };
        cmd.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            var tls = result.GetValue(tlsDir) is { } dir ? StageTls.FromAgentDirectory(dir) : null;
            var rows = new List<Tessera.Serving.Protocol.StageStatus>();
            foreach (var endpoint in SplitStages(result.GetValue(stages)!))
            {
                using var channel = StageChannels.Create(endpoint, tls);
                rows.Add(await new Tessera.Serving.Protocol.Stage.StageClient(channel).StatusAsync(new Tessera.Serving.Protocol.StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellation).ResponseAsync.ConfigureAwait(false));
            }
            if (result.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(rows.Select(r => new
                {
                    r.Model, r.FirstLayer, r.LastLayer, r.BlockCount, r.LiveSessions, r.Lanes, r.ForwardCalls, r.TokensProcessed, r.KvBytes, r.ContextLength, r.Backend,
                    r.ComputeSeconds, r.ActivationBytesReceived, r.ActivationBytesSent, r.KvPositions, r.KvCapacityPositions,
                }), CliJson.Options));
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("stage", "model", "layers", "sessions", "lanes", "forward calls", "tokens", "ms per call", "KV",
                "received", "sent");
            var i = 0;
            foreach (var r in rows)
                table.AddRow($"{i++}", Markup.Escape(r.Model), $"{r.FirstLayer}-{r.LastLayer} of {r.BlockCount}", $"{r.LiveSessions}", $"{r.Lanes}", $"{r.ForwardCalls}", $"{r.TokensProcessed}",
                    r.ForwardCalls == 0 ? "-" : $"{r.ComputeSeconds * 1000 / r.ForwardCalls:F2}", Format.Bytes(r.KvBytes), Format.Bytes(r.ActivationBytesReceived),
                    Format.Bytes(r.ActivationBytesSent));
            PoolCli.WriteTable(table);
            return 0;
        }));
        return cmd;
    }

    private static Command Generate()
    {
        var stages = StagesOption();
        var model = new Option<string>("--model", "-m") { Description = "The GGUF file the stages serve (its tokenizer is read here).", Required = true };
        var prompt = new Option<string>("--prompt", "-p") { DefaultValueFactory = _ => "Once upon a time" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "0 for greedy.", DefaultValueFactory = _ => 0.8f };
        var seed = new Option<ulong?>("--seed");
        var tlsDir = TlsDirOption();
        var output = new Option<string>("--output", "-o") { Description = "text, or json: one object per token then a summary.", DefaultValueFactory = _ => "text" };
        output.AcceptOnlyFromAmong("text", "json");
        var cmd = new Command("generate", "Generate text through a chain of running stages, streaming tokens as the last stage samples them.")
        {
            stages, model, prompt, maxTokens, temperature, seed, tlsDir, output,
        };
        cmd.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            var tls = result.GetValue(tlsDir) is { } dir ? StageTls.FromAgentDirectory(dir) : null;
            var sampling = new SamplingParameters { Temperature = result.GetValue(temperature), Seed = result.GetValue(seed) ?? (ulong)Random.Shared.NextInt64() };
            await using var service = await PipelineGenerationService.ConnectAsync(result.GetValue(model)!, SplitStages(result.GetValue(stages)!),
                new PipelineGenerationServiceOptions { Tls = tls, Id = "model" }, cancellation).ConfigureAwait(false);
            var json = result.GetValue(output) == "json";
            var text = result.GetValue(prompt)!;
            var tokens = service.TokenizePrompt("model", text);
            if (!json)
                Console.Write(text);
            var count = 0;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await foreach (var t in service.GenerateAsync("model", tokens, new GenerationOptions(sampling, result.GetValue(maxTokens)), cancellation).ConfigureAwait(false))
            {
                count++;
                if (json)
                    Console.WriteLine(JsonSerializer.Serialize(new { id = t.Id, text = t.Text, logprob = t.LogProb }, CliJson.Options));
                else
                    Console.Write(t.Text);
                Console.Out.Flush();
            }
            var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (json)
                Console.WriteLine(JsonSerializer.Serialize(new { promptTokens = tokens.Length, generatedTokens = count, seconds, seed = sampling.Seed }, CliJson.Options));
            else
                Console.Error.WriteLine($"\n[{tokens.Length} prompt tokens, {count} generated in {seconds:F2} s through {service.Driver.Stages.Count} stages, seed {sampling.Seed}]");
            return 0;
        }));
        return cmd;
    }

    private static Command Bench()
    {
        var stages = new Option<string?>("--stages") { Description = "Comma-separated HOST:PORT of running stages, in order. Without it: the whole model in this process (the baseline)." };
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file: the whole model for the baseline (without --stages)." };
        var streams = new Option<string>("--streams") { Description = "Comma-separated numbers of concurrent streams to run, e.g. 1,8.", DefaultValueFactory = _ => "1,8" };
        var promptTokens = new Option<int>("--prompt-tokens") { DefaultValueFactory = _ => 16 };
        var decodeTokens = new Option<int>("--decode-tokens") { DefaultValueFactory = _ => 64 };
        var runs = new Option<int>("--runs", "-r") { Description = "Runs per stream count; the median run (by aggregate tokens/s) is reported.", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads of the baseline.", DefaultValueFactory = _ => 0 };
        var driverFeedback = new Option<bool>("--driver-feedback") { Description = "The driver sends every next position instead of the first stage feeding sampled tokens back (one more round trip per token; for comparison)." };
        var tlsDir = TlsDirOption();
        var output = PoolCli.OutputOption();
        var cmd = new Command("bench", "Drive N concurrent streams through a chain of stages (or the whole model here) and report time to first token, per-token latency p50/p99 and aggregate tokens/s.")
        {
            stages, model, streams, promptTokens, decodeTokens, runs, threads, driverFeedback, tlsDir, output,
        };
        cmd.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            var settings = new StreamBench.Settings(StreamBench.ParseCounts(result.GetValue(streams)!), Math.Max(1, result.GetValue(runs)),
                result.GetValue(promptTokens), result.GetValue(decodeTokens), result.GetValue(output) == "json");
            IReadOnlyList<PipelineBenchmarkReport> reports;
            string target;
            if (result.GetValue(stages) is { } list)
            {
                var tls = result.GetValue(tlsDir) is { } dir ? StageTls.FromAgentDirectory(dir) : null;
                var options = new PipelineDriverOptions { Tls = tls, FeedBackAtFirstStage = !result.GetValue(driverFeedback) };
                await using var driver = await PipelineDriver.ConnectAsync(SplitStages(list), options, cancellation).ConfigureAwait(false);
                target = $"{driver.Stages.Count} stages: " + string.Join(", ", driver.Stages.Select((s, i) => $"{driver.Endpoints[i]} layers {s.FirstLayer}-{s.LastLayer}"));
                PipelineBenchmark.TokenSource source = (prompt, max, token) => Ids(driver.GenerateAsync(new PipelineRequest(prompt, SamplingParameters.Greedy, max), token));
                reports = await StreamBench.RunAsync(source, driver.VocabSize, settings, cancellation).ConfigureAwait(false);
            }
            else
            {
                var path = result.GetValue(model) ?? throw new ArgumentException("Give --stages HOST:PORT,... or --model FILE for the one-process baseline.");
                using var file = GgufFile.Open(path);
                using var backend = ComputeDevices.CreateCpu(result.GetValue(threads));
                var config = ModelConfig.FromGguf(file);
                using var stage = new TransformerStage(file, LayerRange.All(config.BlockCount), backend, Math.Min(config.ContextLength, settings.PromptTokens + settings.DecodeTokens + 8));
                target = $"one process: {Path.GetFileName(path)}, {backend.Name}";
                reports = await StreamBench.RunAsync(options => Task.FromResult(PipelineBenchmark.RunLocal(stage, options)), settings).ConfigureAwait(false);
            }

            StreamBench.Print(target, reports, settings.Json);
            return 0;
        }));
        return cmd;
    }


    private static async IAsyncEnumerable<int> Ids(IAsyncEnumerable<PipelineToken> tokens)
    {
        await foreach (var t in tokens.ConfigureAwait(false))
            yield return t.Id;
    }

    private static Option<string> StagesOption() => new("--stages", "-s") { Description = "Comma-separated HOST:PORT of the stages, in pipeline order.", Required = true };

    private static Option<string?> TlsDirOption() => new("--tls-dir") { Description = "An agent's data directory (node.crt, node.key, ca.crt) for mutual TLS; without it, plaintext h2c." };

    private static string[] SplitStages(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static System.Net.IPEndPoint ParseListen(string text)
    {
        try
        {
            return CoordinatorHost.ParseEndpoint(text);
        }
        catch (Tessera.Pool.PoolException e)
        {
            throw new FormatException(e.Message);
        }
    }
}
