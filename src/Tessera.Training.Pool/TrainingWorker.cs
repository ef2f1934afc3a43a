using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using Tessera.Identity;

namespace Tessera.Training.Pool;

/// <summary>Faults a worker can be told to inject, for tests and demonstrations of the coordinator's defences.</summary>
public sealed record WorkerFaults(string? Poison = null, int SlowMillisecondsPerStep = 0);

/// <summary>
/// A training worker: says hello to the coordinator with its node certificate, then for each round it takes part in
/// brings its copy of the global model up to date (one encoded update when it held the previous version, else the whole
/// model), trains inner_steps AdamW steps on the windows it is handed, and sends its change (global − local) encoded
/// with the run's compression. Its AdamW state stays in memory and is saved to its folder after every round, so a
/// restarted worker continues with it. When the coordinator is unreachable (restarting) it retries for up to ten minutes.
/// </summary>
public sealed class TrainingWorker(string coordinatorAddress, string identityDirectory, string name, int threads, Action<string> log,
    WorkerFaults? faults = null)
{
    private readonly WorkerFaults _faults = faults ?? new WorkerFaults();

    /// <summary>Runs until the coordinator says the run is done.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var identity = NodeIdentity.Load(identityDirectory);
        using var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5), PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
        handler.SslOptions.RemoteCertificateValidationCallback = CertificateChecks.CoordinatorValidation(identity.CaCertificate, TimeProvider.System);
        handler.SslOptions.ClientCertificates = [identity.Certificate];
        handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => identity.Certificate;
        using var http = new HttpClient(handler, disposeHandler: false) { BaseAddress = new Uri($"https://{coordinatorAddress}/train/v1/"), Timeout = TimeSpan.FromMinutes(5) };

        var hello = await Retry(() => HelloAsync(http, cancellationToken), cancellationToken).ConfigureAwait(false);
        var config = TrainingConfig.Parse(hello.ConfigJson, yaml: false, "the coordinator's config");
        var shape = config.ModelShape(hello.Vocab);
        var model = new LlamaModel(shape);
        model.Threads = threads;
        var adam = new AdamW(model.Parameters.Length, config.Inner.LearningRate, config.Inner.Beta1, config.Inner.Beta2, 1e-8f, config.Inner.WeightDecay);
        var statePath = Path.Combine(identityDirectory, $"inner-{hello.RunId}.state");
        InnerState.TryLoad(statePath, adam, log);
        var schedule = config.Schedule();
        var compression = config.CompressionKind;
        var global = new float[model.Parameters.Length];
        var version = -1;
        var T = config.Data.SequenceLength;
        log($"joined run {hello.RunId} as {name}: {model.Parameters.Length:N0} parameters, {threads} thread(s)");

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var next = await Retry(() => PostJsonAsync<NextWork>(http, "next", new { held = version }, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (next.State == "done") { log("the run is done"); return; }
            if (next.State == "hello") { await Retry(() => HelloAsync(http, cancellationToken), cancellationToken).ConfigureAwait(false); continue; }
            if (next.State != "round") continue;

            // Alive from the start of the round: the download and the first steps can outlast worker_timeout_seconds on a busy machine.
            _ = http.PostAsJsonAsync("progress", new ProgressReport(next.Round, 0, float.NaN, 0), TrainingConfig.Json, cancellationToken).ContinueWith(t => t.Exception, TaskScheduler.Default);
            version = await Retry(() => SyncModelAsync(http, global, version, next.Round, compression, cancellationToken), cancellationToken).ConfigureAwait(false);
            global.CopyTo(model.Parameters, 0);
            var windows = await Retry(async () => MemoryMarshal.Cast<byte, int>(await http.GetByteArrayAsync($"data?cursor={next.Cursor}&count={next.Sequences}", cancellationToken).ConfigureAwait(false)).ToArray(), cancellationToken).ConfigureAwait(false);

            var B = config.BatchSequences;
            var inputs = new int[B * T];
            var targets = new int[B * T];
            var started = Stopwatch.StartNew();
            var lastReport = Stopwatch.StartNew();
            double lossSum = 0;
            long tokens = 0;
            for (var step = 0; step < config.InnerSteps; step++)
            {
                TokenDataset.SplitWindows(windows.AsSpan(step * B * (T + 1), B * (T + 1)), T, inputs, targets);
                var loss = model.ForwardBackward(inputs, targets, B);
                adam.LearningRate = schedule.At((long)next.Round * config.InnerSteps + step);
                adam.Step(model.Parameters, model.Gradients);
                lossSum += loss;
                tokens += B * T;
                if (_faults.SlowMillisecondsPerStep > 0) await Task.Delay(_faults.SlowMillisecondsPerStep, cancellationToken).ConfigureAwait(false);
                if (lastReport.Elapsed.TotalSeconds >= 2 || step == config.InnerSteps - 1)
                {
                    lastReport.Restart();
                    var report = new ProgressReport(next.Round, step + 1, loss, tokens / started.Elapsed.TotalSeconds);
                    _ = http.PostAsJsonAsync("progress", report, TrainingConfig.Json, cancellationToken).ContinueWith(t => t.Exception, TaskScheduler.Default);
                }
            }

            var delta = new float[global.Length];
            System.Numerics.Tensors.TensorPrimitives.Subtract(global, model.Parameters, delta);
            ApplyPoison(delta);
            var encoded = DeltaCodec.Encode(delta, compression);
            var meanLoss = (float)(lossSum / config.InnerSteps);
            var answer = await Retry(async () =>
            {
                using var content = new ByteArrayContent(encoded);
                using var response = await http.PostAsync(FormattableString.Invariant($"contribution?round={next.Round}&tokens={tokens}&loss={meanLoss}"), content, cancellationToken).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
                return (await response.Content.ReadFromJsonAsync<ContributionResponse>(TrainingConfig.Json, cancellationToken).ConfigureAwait(false))!;
            }, cancellationToken).ConfigureAwait(false);
            log($"round {next.Round + 1}: {config.InnerSteps} steps, loss {meanLoss:F4}, {tokens / started.Elapsed.TotalSeconds:F0} tokens/s, sent {encoded.Length:N0} bytes"
                + (answer.Accepted ? "" : $" (refused: {answer.Reason})"));
            InnerState.Save(statePath, adam);
        }
    }

    private void ApplyPoison(Span<float> delta)
    {
        switch (_faults.Poison)
        {
            case null: return;
            case "nan": delta[delta.Length / 2] = float.NaN; return;
            case "scale": System.Numerics.Tensors.TensorPrimitives.Multiply(delta, 1000f, delta); return;
            default: throw new ArgumentException($"Unknown poison '{_faults.Poison}': nan or scale.");
        }
    }

    private async Task<HelloResponse> HelloAsync(HttpClient http, CancellationToken cancellationToken) =>
        await PostJsonAsync<HelloResponse>(http, "hello", new HelloRequest(name), cancellationToken).ConfigureAwait(false);

    private static async Task<T> PostJsonAsync<T>(HttpClient http, string path, object body, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync(path, body, TrainingConfig.Json, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == System.Net.HttpStatusCode.Unauthorized)
            throw new TrainingConfigException($"The coordinator refused this worker's certificate: {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<T>(TrainingConfig.Json, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Brings <paramref name="global"/> to version <paramref name="target"/>; returns the version held.</summary>
    private static async Task<int> SyncModelAsync(HttpClient http, float[] global, int held, int target, DeltaCompression compression, CancellationToken cancellationToken)
    {
        if (held == target) return held;
        if (held == target - 1)
        {
            using var response = await http.GetAsync($"model/update?from={held}", cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                var step = new float[global.Length];
                DeltaCodec.Decode(bytes, compression, step);
                System.Numerics.Tensors.TensorPrimitives.Add(global, step, global);
                return target;
            }
        }
        using var full = await http.GetAsync("model", cancellationToken).ConfigureAwait(false);
        full.EnsureSuccessStatusCode();
        var version = int.Parse(full.Headers.GetValues("X-Tessera-Version").First(), System.Globalization.CultureInfo.InvariantCulture);
        DeltaCodec.Decode(await full.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false), DeltaCompression.F32, global);
        return version;
    }

    /// <summary>Retries while the coordinator cannot be reached (it may be restarting), for up to ten minutes.</summary>
    private async Task<T> Retry<T>(Func<Task<T>> action, CancellationToken cancellationToken)
    {
        var giveUp = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            try { return await action().ConfigureAwait(false); }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException && !cancellationToken.IsCancellationRequested && giveUp.Elapsed < TimeSpan.FromMinutes(10))
            {
                log($"coordinator unreachable ({ex.Message}); retrying");
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(5000, delay.TotalMilliseconds * 2));
            }
        }
    }
}

/// <summary>A worker's AdamW state on disk (moments and step count), written atomically after every round.</summary>
internal static class InnerState
{
    public static void Save(string path, AdamW adam)
    {
        var temporary = path + ".tmp";
        using (var stream = File.Create(temporary))
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(adam.Steps);
            writer.Write(adam.FirstMoment.Length);
            writer.Write(MemoryMarshal.AsBytes((ReadOnlySpan<float>)adam.FirstMoment));
            writer.Write(MemoryMarshal.AsBytes((ReadOnlySpan<float>)adam.SecondMoment));
        }
        File.Move(temporary, path, overwrite: true);
    }

    public static void TryLoad(string path, AdamW adam, Action<string> log)
    {
        if (!File.Exists(path)) return;
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            var steps = reader.ReadInt32();
            var count = reader.ReadInt32();
            var m = MemoryMarshal.Cast<byte, float>(reader.ReadBytes(4 * count)).ToArray();
            var v = MemoryMarshal.Cast<byte, float>(reader.ReadBytes(4 * count)).ToArray();
            adam.Restore(m, v, steps);
            log($"continuing with the AdamW state saved after {steps} steps");
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or EndOfStreamException)
        {
            log($"the saved AdamW state in {path} cannot be used ({ex.Message}); starting it afresh");
        }
    }
}
