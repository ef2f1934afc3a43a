using System.Net;
using System.Net.Sockets;
using Tessera.Engine.Generation;
using Tessera.Engine.Model;
using Tessera.Tests.Pool;
using Tessera.Training;
using Tessera.Training.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Training;

/// <summary>
/// `tessera train` as users run it: a coordinator and workers as real processes over mutual TLS, on a tiny model
/// (width 32, one block, the Llama 2 vocabulary: 2 M parameters) trained on this repository's docs, bounded to a few
/// rounds of a few steps. What each test shows is in its name.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class TrainingProcessTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string Repository = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
    private static readonly string LlamaVocab = Path.GetFullPath(Path.Combine(Repository, "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"));
    private readonly string _dir = Directory.CreateTempSubdirectory("tessera-train-").FullName;
    private readonly List<TesseraProcess> _processes = [];

    public void Dispose()
    {
        foreach (var p in _processes) p.Kill();
        foreach (var p in _processes) p.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Config(string name, int workers, int localWorkers, int rounds, string extra = "")
    {
        var path = Path.Combine(_dir, name + ".json");
        File.WriteAllText(path, $$"""
            {
              "name": "{{name}}",
              "vocabulary": "{{LlamaVocab}}",
              "model": { "dim": 32, "layers": 1, "heads": 2, "kv_heads": 1, "hidden_dim": 64 },
              "data": { "files": ["{{Repository}}/docs/*.md"], "sequence_length": 32 },
              "workers": {{workers}}, "local_workers": {{localWorkers}}, "threads_per_worker": 1,
              "batch_sequences": 2, "inner_steps": 5, "rounds": {{rounds}},
              "inner": { "learning_rate": 0.003, "warmup_steps": 2 },
              "compression": "int8", "eval_sequences": 8, "worker_timeout_seconds": 10, "straggler_timeout_seconds": 60
              {{extra}}
            }
            """);
        return path;
    }

    private TesseraProcess Start(params string[] arguments)
    {
        var p = TesseraProcess.Start(arguments);
        _processes.Add(p);
        return p;
    }

    private TesseraProcess StartWorker(string run, string name, string address, params string[] extra)
    {
        var identity = Path.Combine(_dir, "id-" + name);
        var issue = TesseraProcess.RunAsync(["train", "add-worker", run, name, "--out", identity], TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        Assert.True(issue.ExitCode == 0, issue.Stdout + issue.Stderr);
        return Start(["train", "worker", "--coordinator", address, "--identity", identity, "--name", name, "--threads", "1", .. extra]);
    }

    private static async Task<string> AddressAsync(string run)
    {
        for (var i = 0; i < 600; i++)
        {
            var info = Path.Combine(run, "run.json");
            if (File.Exists(info))
            {
                var address = TrainingRunFolder.Open(run).Info.Address;
                if (address is not null) return address;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("the coordinator never wrote its address");
    }

    [Fact]
    public async Task TwoWorkers_LowerTheLoss_AndTheExportedGgufGivesTheTrainedModelsLogits()
    {
        var run = Path.Combine(_dir, "run");
        var train = Start("train", Config("two", workers: 2, localWorkers: 2, rounds: 4), "--run-dir", run);
        await train.WaitForStdoutAsync("done:", TimeSpan.FromMinutes(4));
        output.WriteLine(train.Stdout);

        var history = TrainingPlots.ReadHistory(Path.Combine(run, "history.jsonl"));
        Assert.Equal([0, 1, 2, 3, 4], history.Select(r => r.Round));
        Assert.All(history.Skip(1), r => Assert.Equal(2, r.Accepted));
        var before = history[0].ValidationLoss!.Value;
        var after = history[^1].ValidationLoss!.Value;
        Assert.True(after < before * 0.98, $"validation loss {before} -> {after}");
        Assert.Equal(4L * 2 * 5 * 2 * 32, history[^1].Tokens); // rounds x workers x steps x sequences x length
        Assert.True(File.Exists(Path.Combine(run, "loss-vs-tokens.svg")));

        var gguf = Path.Combine(_dir, "trained.gguf");
        var export = await TesseraProcess.RunAsync(["train", "export", run, "--out", gguf], TimeSpan.FromMinutes(2));
        Assert.True(export.ExitCode == 0, export.Stdout + export.Stderr);
        Assert.Contains("wrote", export.Stdout);

        // The engine running the exported file against the training model holding the checkpoint's parameters. The
        // bound (2e-3 of the largest logit) and why the engine is not bitwise f32: TrainingGgufTests.
        var checkpoint = TrainingCheckpoint.ReadLatest(Path.Combine(run, "checkpoints"))!.Value;
        var model = new LlamaModel(new LlamaConfig(32000, 32, 1, 2, 1, 64));
        checkpoint.Parameters.CopyTo(model.Parameters, 0);
        int[] prompt = [1, 450, 4996, 17354, 1701, 29916, 432, 17204];
        model.Forward(prompt, prompt.Skip(1).Append(2).ToArray());
        var expected = model.Logits.ToArray();
        using var engine = LocalModel.Load(gguf, threads: 1);
        using var cache = engine.Stage.CreateCache();
        BatchSequence[] batch = [new BatchSequence(cache, prompt.Length) { PromptLength = prompt.Length }];
        var logits = new float[engine.Stage.OutputLength(batch, LogitsMode.All)];
        engine.Stage.Forward(batch, prompt, [], logits, LogitsMode.All);
        var worst = 0.0;
        var largest = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(logits[i] - expected[i]));
            largest = Math.Max(largest, Math.Abs(expected[i]));
        }
        output.WriteLine($"worst logit difference {worst / largest:E2} of the largest");
        Assert.InRange(worst / largest, 0, 2e-3);

        var generate = await TesseraProcess.RunAsync(["generate", "--model", gguf, "-p", "Tessera", "-n", "4", "--temperature", "0"], TimeSpan.FromMinutes(2));
        Assert.True(generate.ExitCode == 0, generate.Stdout + generate.Stderr);
    }

    [Fact]
    public async Task AKilledWorkerIsLeftOut_ANewOneJoins_AndAPoisonedChangeIsRejected()
    {
        var run = Path.Combine(_dir, "run");
        var train = Start("train", Config("elastic", workers: 3, localWorkers: 0, rounds: 5), "--run-dir", run);
        var address = await AddressAsync(run);
        StartWorker(run, "steady", address, "--inject-slow-ms", "200");
        var doomed = StartWorker(run, "doomed", address, "--inject-slow-ms", "200");
        StartWorker(run, "poisoner", address, "--inject-slow-ms", "200", "--inject-poison", "scale");

        await train.WaitForStdoutAsync("round 2/5 starts", TimeSpan.FromMinutes(3));
        await Task.Delay(300);
        doomed.Kill(); // mid-round: its change never comes

        // /api/training through `train status` (the run's key), and refused without it.
        var status = await TesseraProcess.RunAsync(["train", "status", run, "--json"], TimeSpan.FromMinutes(1));
        Assert.True(status.ExitCode == 0, status.Stdout + status.Stderr);
        using (var json = System.Text.Json.JsonDocument.Parse(status.Stdout))
        {
            Assert.Equal("running", json.RootElement.GetProperty("state").GetString());
            var names = json.RootElement.GetProperty("worker_list").EnumerateArray().Select(w => w.GetProperty("name").GetString()).ToList();
            Assert.Equal(["doomed", "poisoner", "steady"], names);
        }
        using (var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator })
        using (var http = new HttpClient(handler))
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "wrong");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"https://{address}/api/training")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync($"https://{address}/train/v1/next", new StringContent("{}"))).StatusCode); // no worker certificate
        }
        StartWorker(run, "newcomer", address, "--inject-slow-ms", "200");
        await train.WaitForStdoutAsync("done:", TimeSpan.FromMinutes(4));
        output.WriteLine(train.Stdout);

        var history = TrainingPlots.ReadHistory(Path.Combine(run, "history.jsonl"));
        Assert.Equal(5, history[^1].Round);
        Assert.Contains(history, r => r.LeftOut.Contains("doomed"));
        Assert.All(history.Skip(1), r => Assert.Equal(["poisoner"], r.Rejected));
        Assert.Contains("rejected the change from poisoner", train.Stdout);
        Assert.Matches(@"round [345]/5 starts with 3 worker\(s\): newcomer, poisoner, steady", train.Stdout);
        Assert.True(history[^1].ValidationLoss < history[0].ValidationLoss, "the honest workers' changes still lower the loss");
    }

    [Fact]
    public async Task TheCoordinatorRestarts_AndTheRunResumesFromItsCheckpoint()
    {
        var run = Path.Combine(_dir, "run");
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var config = Config("restart", workers: 2, localWorkers: 0, rounds: 5);
        var listen = $"127.0.0.1:{port}";
        var first = Start("train", config, "--run-dir", run, "--listen", listen);
        var address = await AddressAsync(run);
        var a = StartWorker(run, "a", address, "--inject-slow-ms", "100");
        var b = StartWorker(run, "b", address, "--inject-slow-ms", "100");
        await first.WaitForStdoutAsync("round 2/5:", TimeSpan.FromMinutes(3));
        first.Kill();

        var second = Start("train", config, "--run-dir", run, "--listen", listen);
        await second.WaitForStdoutAsync("done:", TimeSpan.FromMinutes(4));
        output.WriteLine(first.Stdout + "\n---\n" + second.Stdout);
        Assert.Matches(@"resumed from the checkpoint after round [2-4]", second.Stdout);
        var history = TrainingPlots.ReadHistory(Path.Combine(run, "history.jsonl"));
        Assert.Equal([0, 1, 2, 3, 4, 5], history.Select(r => r.Round));
        for (var i = 1; i < history.Count; i++) Assert.True(history[i].Tokens > history[i - 1].Tokens, "tokens keep counting across the restart");
        Assert.Contains("worker a (", second.Stdout); // the workers, still running, came back to the new coordinator
        Assert.Contains("worker b (", second.Stdout);
        foreach (var worker in new[] { a, b })
            await worker.WaitForStdoutAsync("the run is done", TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task Sigterm_StopsTheCoordinatorAndTheWorkersItStarted()
    {
        var run = Path.Combine(_dir, "run");
        var train = Start("train", Config("stop", workers: 2, localWorkers: 2, rounds: 500), "--run-dir", run);
        await train.WaitForStdoutAsync("round 2/500 starts", TimeSpan.FromMinutes(3));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await train.StopAsync(TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"stopping took {clock.Elapsed}");
        Assert.True(TrainingCheckpoint.List(Path.Combine(run, "checkpoints")).Count >= 1, "the rounds done are kept");
        Assert.Null(TrainingRunFolder.Open(run).Info.Address); // run.json says it is not running
        await Task.Delay(1000);
        var workers = System.Diagnostics.Process.GetProcesses().Where(p =>
        {
            try { return File.ReadAllText($"/proc/{p.Id}/cmdline").Contains(run, StringComparison.Ordinal); }
            catch (IOException) { return false; }
            catch (UnauthorizedAccessException) { return false; }
        }).ToList();
        Assert.Empty(workers);
    }
}
