using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Spectre.Console;
using Tessera.Pool.Coordinator;
using Tessera.Training;
using Tessera.Training.Pool;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera train CONFIG</c>: low-communication (DiLoCo) training across machines, and its helpers: <c>train
/// worker</c> (a worker process), <c>train add-worker</c> (an identity for a worker on another machine), <c>train
/// status</c>, <c>train export</c> (a GGUF that generate/serve/deploy run), <c>train plot</c>. docs/training.md.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("CONFIG") { Description = "The training config (JSON or YAML; docs/training.md lists its keys)." };
        var runDir = new Option<string?>("--run-dir") { Description = "The run's folder (default: $TESSERA_HOME/train/NAME, ~/.tessera if unset). An existing run there resumes from its last checkpoint." };
        var localWorkers = new Option<int?>("--local-workers") { Description = "Worker processes to start on this machine (default: the config's local_workers, else workers)." };
        var listen = new Option<string?>("--listen") { Description = "ADDR:PORT the training coordinator listens on (default: the config's listen)." };
        var poolData = new Option<string?>("--pool-data") { Description = "A pool coordinator's data folder: trust that pool's node certificates, so pool agents can be workers with `tessera train worker --data-dir`." };
        var command = new Command("train", "Train a Llama-shaped model across machines with DiLoCo: workers run many local AdamW steps, then exchange only their compressed parameter change.");
        command.Arguments.Add(config);
        command.Options.Add(runDir);
        command.Options.Add(localWorkers);
        command.Options.Add(listen);
        command.Options.Add(poolData);
        command.SetAction((result, ct) => Guard(async () =>
        {
            using var stopping = PoolCli.OnStopSignal(ct); // SIGTERM or Ctrl+C: stop the workers started here, keep the checkpoints
            return await TrainAsync(result.GetValue(config)!, result.GetValue(runDir), result.GetValue(localWorkers),
                result.GetValue(listen), result.GetValue(poolData), stopping.Token).ConfigureAwait(false);
        }));
        command.Subcommands.Add(WorkerCommand());
        command.Subcommands.Add(AddWorkerCommand());
        command.Subcommands.Add(StatusCommand());
        command.Subcommands.Add(ExportCommand());
        command.Subcommands.Add(PlotCommand());
        command.Subcommands.Add(TrainExchangeBenchCommand.Create());
        return command;
    }

    private static async Task<int> Guard(Func<Task<int>> body)
    {
        try { return await PoolCli.RunAsync(body).ConfigureAwait(false); }
        catch (TrainingConfigException ex)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message).ConfigureAwait(false);
            return 2;
        }
    }

    internal static string DefaultRunDirectory(string name) =>
        Path.Combine(Environment.GetEnvironmentVariable("TESSERA_HOME") is { Length: > 0 } home ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".tessera"), "train", name);

    private static async Task<int> TrainAsync(string configPath, string? runDir, int? localWorkersOption, string? listenOption, string? poolData, CancellationToken ct)
    {
        var given = TrainingConfig.Load(configPath);
        var folder = TrainingRunFolder.CreateOrResume(Path.GetFullPath(runDir ?? DefaultRunDirectory(given.Name)), given);
        var config = folder.Config;
        var time = TimeProvider.System;
        void Log(string line) => Console.WriteLine($"{DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} {line}");

        Log($"run folder {folder.Root} ({folder.Info.RunId})");
        var (shape, initial) = InitialModel(config, folder);
        var data = TokenDataset.BuildOrLoad(config, folder.Info.VocabularyPath, folder.DataDirectory, Log);
        Log($"model: {initial.Length:N0} parameters ({shape.Layers} layers, width {shape.Dim}, vocabulary {shape.Vocab}); data: {data.TrainTokens:N0} training and {data.ValidationTokens:N0} validation tokens");
        var evaluator = new LlamaModel(shape);
        using var authority = folder.Authority(poolData, time);
        var coordinator = new TrainingCoordinator(config, shape, initial, data, folder.Root, folder.Info.RunId, evaluator, time, Log);
        if (coordinator.Done)
        {
            Log($"the run already finished its {config.Rounds} rounds; export it with: tessera train export {folder.Root} --out model.gguf");
            return 0;
        }
        await using var server = await TrainingServer.StartAsync(coordinator, authority, CoordinatorHost.ParseEndpoint(listenOption ?? config.Listen),
            folder.TrainingKey(), time, ct).ConfigureAwait(false);
        folder.SetAddress(server.Address);
        Log($"training coordinator on {server.Address}; status: tessera train status {folder.Root}");

        var local = localWorkersOption ?? config.LocalWorkers ?? config.Workers;
        var threads = config.ThreadsPerWorker ?? Math.Max(1, Environment.ProcessorCount / Math.Max(1, local));
        var children = new List<ChildProcess>();
        try
        {
            for (var i = 0; i < local; i++)
            {
                var name = $"worker-{i + 1}";
                var identity = TrainingRunFolder.IssueWorker(authority, Path.Combine(folder.Root, "workers", name), name, folder.Info.RunId, time);
                children.Add(ChildProcess.Start(name, Path.Combine(folder.Root, "logs"), ["train", "worker", "--coordinator", server.Address,
                    "--identity", identity, "--name", name, "--threads", threads.ToString(CultureInfo.InvariantCulture)]));
            }
            if (local > 0) Log($"started {local} local worker(s), {threads} thread(s) each; logs in {Path.Combine(folder.Root, "logs")}");
            if (local < config.Workers)
                Log($"waiting for {config.Workers - local} more worker(s): on another machine run `tessera train worker --coordinator {server.Address} --identity DIR` with DIR from `tessera train add-worker {folder.Root} NAME --out DIR`"
                    + (poolData is not null ? ", or on a pool node `tessera train worker --coordinator ADDR --data-dir AGENT_DIR`" : ""));

            await Watch(coordinator, ct).ConfigureAwait(false);
            await coordinator.Finished.ConfigureAwait(false);
            var plot = TrainingPlots.Write(folder.Root, [folder.Root]);
            Log($"done: {coordinator.Tokens:N0} tokens, {coordinator.BytesUp + coordinator.BytesDown:N0} bytes exchanged, validation loss {coordinator.LastValidationLoss:F4}; plots {string.Join(", ", plot)}");
            Log($"export: tessera train export {folder.Root} --out model.gguf");
            return 0;
        }
        finally
        {
            // Workers leave by themselves once told the run is done; stop only those still there after a moment.
            for (var wait = 0; wait < 50 && children.Any(c => !c.HasExited); wait++) await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
            foreach (var child in children)
                if (!child.HasExited) await child.StopAsync().ConfigureAwait(false);
            folder.SetAddress(null);
        }
    }

    /// <summary>Refreshes a worker table in place while the run goes on (round lines are logged as they close).</summary>
    private static async Task Watch(TrainingCoordinator coordinator, CancellationToken ct)
    {
        if (Console.IsOutputRedirected)
        {
            await coordinator.Finished.WaitAsync(ct).ConfigureAwait(false);
            return;
        }
        while (!coordinator.Finished.IsCompleted)
        {
            await Task.WhenAny(coordinator.Finished, Task.Delay(TimeSpan.FromSeconds(10), ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            if (!coordinator.Finished.IsCompleted) AnsiConsole.Write(WorkerTable(TrainingServer.Status(coordinator)));
        }
    }

    internal static Table WorkerTable(TrainingStatus status)
    {
        var table = new Table().Title($"{Markup.Escape(status.Name)}: round {status.Round}/{status.Rounds}, {status.Tokens:N0} tokens, {Format.Bytes(status.BytesUp + status.BytesDown)} exchanged"
            + (status.ValidationLoss is { } v ? $", validation loss {v:F4}" : ""));
        foreach (var column in new[] { "worker", "state", "round", "step", "loss", "tokens/s", "sent", "received", "seen" }) table.AddColumn(column);
        foreach (var w in status.WorkerList)
            table.AddRow(Markup.Escape(w.Name), Markup.Escape(w.State), (w.Round + 1).ToString(CultureInfo.InvariantCulture), w.Step.ToString(CultureInfo.InvariantCulture),
                float.IsNaN(w.Loss) ? "-" : w.Loss.ToString("F4", CultureInfo.InvariantCulture), w.TokensPerSecond.ToString("F0", CultureInfo.InvariantCulture),
                Format.Bytes(w.BytesUp), Format.Bytes(w.BytesDown), $"{w.SecondsSinceSeen:F0} s ago");
        return table;
    }

    private static (LlamaConfig Shape, float[] Parameters) InitialModel(TrainingConfig config, TrainingRunFolder folder)
    {
        if (config.Init is not null) return TrainingGguf.Import(config.Init);
        var model = new LlamaModel(ModelShape(folder));
        model.Initialize(config.Model.Seed, config.Model.InitScale);
        return (model.Config, model.Parameters);
    }

    /// <summary>The run's model shape: the init GGUF's, or the config's with the vocabulary's size.</summary>
    private static LlamaConfig ModelShape(TrainingRunFolder folder)
    {
        if (folder.Config.Init is not null) return TrainingGguf.Import(folder.Config.Init).Config;
        using var vocabulary = Tessera.Engine.Gguf.GgufFile.Open(folder.Info.VocabularyPath);
        return folder.Config.ModelShape(Tessera.Engine.Tokenization.Tokenizer.FromGguf(vocabulary.Metadata).VocabularySize);
    }

    private static Command WorkerCommand()
    {
        var coordinator = new Option<string>("--coordinator") { Description = "The training coordinator's ADDR:PORT (printed by `tessera train`).", Required = true };
        var identity = new Option<string?>("--identity") { Description = "A worker identity folder from `tessera train add-worker` (or made by `tessera train` for its local workers)." };
        var dataDir = new Option<string?>("--data-dir") { Description = "A pool agent's data folder: work as that pool node (the coordinator runs with --pool-data)." };
        var name = new Option<string?>("--name") { Description = "The worker's name in tables (default: the host name)." };
        var threads = new Option<int>("--threads") { Description = "Threads for the model's math.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var poison = new Option<string?>("--inject-poison") { Description = "Fault injection for tests: send a change with a NaN (nan) or scaled 1000x (scale).", Hidden = true };
        var slow = new Option<int>("--inject-slow-ms") { Description = "Fault injection for tests: sleep this long after every step.", Hidden = true };
        var command = new Command("worker", "Run a training worker: it joins the coordinator and trains until the run is done.");
        foreach (var o in new Option[] { coordinator, identity, dataDir, name, threads, poison, slow }) command.Options.Add(o);
        command.SetAction((result, ct) => Guard(async () =>
        {
            var folder = result.GetValue(identity) ?? result.GetValue(dataDir)
                ?? throw new TrainingConfigException("Give --identity (from `tessera train add-worker`) or --data-dir (a pool agent's folder).");
            var worker = new TrainingWorker(result.GetValue(coordinator)!, folder, result.GetValue(name) ?? Environment.MachineName,
                Math.Max(1, result.GetValue(threads)), line => Console.WriteLine($"{DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} {line}"),
                new WorkerFaults(result.GetValue(poison), result.GetValue(slow)));
            using var stopping = PoolCli.OnStopSignal(ct);
            await worker.RunAsync(stopping.Token).ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    private static Command AddWorkerCommand()
    {
        var run = new Argument<string>("RUN") { Description = "The run folder." };
        var name = new Argument<string>("NAME") { Description = "The worker's name." };
        var output = new Option<string>("--out") { Description = "Folder to write the worker's key, certificate and the CA into (copy it to the worker's machine).", Required = true };
        var command = new Command("add-worker", "Issue a certificate for a worker on another machine (mutual TLS with the run's CA).");
        command.Arguments.Add(run);
        command.Arguments.Add(name);
        command.Options.Add(output);
        command.SetAction((result, ct) => Guard(() =>
        {
            var folder = TrainingRunFolder.Open(result.GetValue(run)!);
            using var authority = folder.Authority(null, TimeProvider.System);
            var dir = TrainingRunFolder.IssueWorker(authority, Path.GetFullPath(result.GetValue(output)!), result.GetValue(name)!, folder.Info.RunId, TimeProvider.System);
            Console.WriteLine($"worker identity in {dir}; on the worker: tessera train worker --coordinator {folder.Info.Address ?? "ADDR:PORT"} --identity {dir}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command StatusCommand()
    {
        var run = new Argument<string>("RUN") { Description = "The run folder." };
        var json = new Option<bool>("--json") { Description = "Print /api/training's JSON." };
        var command = new Command("status", "Show a running training run: workers, loss, tokens/s, bytes exchanged (from /api/training).");
        command.Arguments.Add(run);
        command.Options.Add(json);
        command.SetAction((result, ct) => Guard(async () =>
        {
            var folder = TrainingRunFolder.Open(result.GetValue(run)!);
            if (folder.Info.Address is null)
            {
                var rounds = TrainingPlots.ReadHistory(folder.HistoryPath).LastOrDefault()?.Round ?? 0;
                Console.WriteLine($"{folder.Config.Name} is not running; {rounds} of {folder.Config.Rounds} rounds recorded in {folder.HistoryPath}.");
                return 0;
            }
            using var authority = folder.Authority(null, TimeProvider.System);
            using var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = Tessera.Identity.CertificateChecks.CoordinatorValidation(authority.Certificate, TimeProvider.System);
            using var http = new HttpClient(handler) { BaseAddress = new Uri($"https://{folder.Info.Address}/"), Timeout = TimeSpan.FromSeconds(15) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", folder.TrainingKey());
            if (result.GetValue(json))
            {
                Console.WriteLine(await http.GetStringAsync("api/training", ct).ConfigureAwait(false));
                return 0;
            }
            var status = await http.GetFromJsonAsync<TrainingStatus>("api/training", TrainingConfig.Json, ct).ConfigureAwait(false);
            AnsiConsole.Write(WorkerTable(status!));
            return 0;
        }));
        return command;
    }

    private static Command ExportCommand()
    {
        var run = new Argument<string>("RUN") { Description = "The run folder." };
        var output = new Option<string>("--out") { Description = "The GGUF file to write.", Required = true };
        var type = new Option<string>("--type") { Description = "Tensor type: f32 (exact) or f16.", DefaultValueFactory = _ => "f32" };
        var command = new Command("export", "Write the run's latest global model as a llama GGUF (with the vocabulary's tokenizer) that generate, serve and deploy run.");
        command.Arguments.Add(run);
        command.Options.Add(output);
        command.Options.Add(type);
        command.SetAction((result, ct) => Guard(() =>
        {
            var folder = TrainingRunFolder.Open(result.GetValue(run)!);
            var latest = TrainingCheckpoint.ReadLatest(folder.CheckpointDirectory, m => Console.Error.WriteLine("warning: " + m))
                ?? throw new TrainingConfigException($"{folder.Root} has no checkpoint yet: a run writes one after its first round.");
            var shape = ModelShape(folder);
            var exportType = result.GetValue(type)!.ToLowerInvariant() switch
            {
                "f32" => TrainingExportType.F32,
                "f16" => TrainingExportType.F16,
                var other => throw new TrainingConfigException($"--type {other} is not supported: use f32 or f16."),
            };
            var path = Path.GetFullPath(result.GetValue(output)!);
            TrainingGguf.Export(shape, latest.Parameters, folder.Info.VocabularyPath, path, folder.Config.Name, exportType);
            Console.WriteLine($"wrote {path} (round {latest.Header.Round}, validation loss {latest.Header.ValidationLoss:F4}); try: tessera generate {path} -p \"Hello\"");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command PlotCommand()
    {
        var runs = new Argument<string[]>("RUN") { Description = "One or more run folders to draw on the same axes.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Folder for the SVG files (default: the first run's folder)." };
        var command = new Command("plot", "Draw validation loss against tokens and against bytes exchanged (SVG) for one or more runs.");
        command.Arguments.Add(runs);
        command.Options.Add(output);
        command.SetAction((result, ct) => Guard(() =>
        {
            var folders = result.GetValue(runs)!;
            foreach (var f in TrainingPlots.Write(result.GetValue(output) ?? folders[0], folders)) Console.WriteLine($"wrote {f}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
