using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tessera.Deploy;
using Tessera.Pool;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera deploy MODEL</c>: plan a model on the pool, start its stages and wait until it serves.</summary>
internal static class DeployCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "A GGUF file in one piece: a path on the coordinator's machine, hf://owner/repo/file.gguf, or hf://owner/repo:Q4_K_M (the repository's " +
            "file of that quantization; without a tag its only model, else its Q4_K_M one), downloaded by the coordinator. Split models are refused." };
        var threads = new Option<int?>("--threads") { Description = "Compute threads per stage (default: all of the agent's processors)." };
        var fetch = new Option<bool>("--fetch") { Description = "Agents always fetch the model over the network, even on the coordinator's machine." };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the stages are sent; do not wait until they are ready." };
        var timeout = new Option<string>("--timeout") { Description = "How long to wait for the stages.", DefaultValueFactory = _ => "30m" };
        var command = new Command("deploy", "Deploy a model on the pool, split over its machines, and serve it at the coordinator's /v1 (OpenAI API).");
        command.Arguments.Add(model);
        var planning = PlanningOptions.AddTo(command);
        foreach (var option in new Option[] { threads, fetch, noWait, timeout })
            command.Options.Add(option);
        var client = DeployClient.AddOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var wait = Tessera.Pool.Security.DurationParser.Parse(result.GetValue(timeout)!);
            var request = planning(result, ModelArgument(result.GetValue(model)!)) with
            {
                Threads = result.GetValue(threads),
                Fetch = result.GetValue(fetch) ? true : null,
            };
            Console.WriteLine($"Planning {request.Model} on the pool at {api.BaseUrl} ...");
            var created = await api.CreateAsync(request, ct).ConfigureAwait(false);
            PrintPlan(created);
            if (result.GetValue(noWait))
                return 0;
            var final = await WaitReadyAsync(api, created.Name, wait, ct).ConfigureAwait(false);
            if (final.State != DeploymentStates.Ready)
            {
                await Console.Error.WriteLineAsync($"error: deployment {final.Name} failed: {final.Error}").ConfigureAwait(false);
                return 1;
            }
            PrintUsage(api, final.Name);
            return 0;
        }));
        return command;
    }

    /// <summary>A local path is made absolute here, so a coordinator on this machine finds it whatever its working folder.</summary>
    internal static string ModelArgument(string model) =>
        model.Contains("://", StringComparison.Ordinal) || !File.Exists(model) ? model : Path.GetFullPath(model);

    internal static void PrintPlan(DeploymentView d)
    {
        Console.WriteLine($"Deployment {d.Name} ({d.Id}): {d.Stages.Count} stage(s), context {d.ContextLength} x {d.MaxSessions} sessions, {d.Activations} activations, " +
            $"predicted {d.PredictedTokensPerSecond.ToString("0.0", CultureInfo.InvariantCulture)} tokens/s single-stream.");
        var table = new Table().AddColumns("Stage", "Node", "Device", "Layers", "Weights", "KV cache", "Predicted tokens/s");
        foreach (var s in d.Stages)
        {
            table.AddRow(
                d.Stages.Any(x => x.Replica > 0) ? $"{s.Replica}.{s.Index}" : s.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(s.NodeName),
                Markup.Escape(s.Device),
                $"{s.FirstLayer}-{s.LastLayer}",
                Bytes(s.WeightBytes),
                Bytes(s.KvBytes),
                s.PredictedTokensPerSecond.ToString("0.0", CultureInfo.InvariantCulture));
        }
        PoolCli.WriteTable(table);
        if (!string.IsNullOrWhiteSpace(d.Explanation))
            Console.WriteLine(d.Explanation);
    }

    internal static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    /// <summary>Polls the deployment until it is ready or failed, with a progress bar per stage (plain lines when output is redirected).</summary>
    internal static async Task<DeploymentView> WaitReadyAsync(DeployClient api, string name, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        var token = deadline.Token;
        try
        {
            if (Console.IsOutputRedirected)
                return await WaitPlainAsync(api, name, token).ConfigureAwait(false);
            DeploymentView? last = null;
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
                .StartAsync(async context =>
                {
                    var tasks = new Dictionary<(int, int), ProgressTask>();
                    while (true)
                    {
                        last = await api.GetAsync(name, token).ConfigureAwait(false);
                        foreach (var s in last.Stages)
                        {
                            if (!tasks.TryGetValue((s.Replica, s.Index), out var task))
                                tasks[(s.Replica, s.Index)] = task = context.AddTask("", maxValue: 1);
                            task.Description = Markup.Escape($"stage {s.Index} on {Where(s)} (layers {s.FirstLayer}-{s.LastLayer}): {s.State}");
                            task.MaxValue = Math.Max(1, s.BytesTotal);
                            task.Value = s.State == StageStates.Ready ? task.MaxValue : Math.Min(s.BytesDone, task.MaxValue - 1);
                        }
                        if (last.State is DeploymentStates.Ready or DeploymentStates.Failed)
                            return;
                        await Task.Delay(300, token).ConfigureAwait(false);
                    }
                }).ConfigureAwait(false);
            return last!;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new PoolException($"Deployment {name} was not ready after {timeout}; see `tessera deployments` (it keeps starting in the background).", exitCode: 1);
        }
    }

    /// <summary>A stage's node, with its device when that is not the CPU: "gaming-pc (gpu0)".</summary>
    private static string Where(StageView s) => s.Device == "cpu" ? s.NodeName : $"{s.NodeName} ({s.Device})";

    private static async Task<DeploymentView> WaitPlainAsync(DeployClient api, string name, CancellationToken token)
    {
        var printed = new Dictionary<(int, int), string>();
        while (true)
        {
            var d = await api.GetAsync(name, token).ConfigureAwait(false);
            foreach (var s in d.Stages)
            {
                if (printed.GetValueOrDefault((s.Replica, s.Index)) == s.State)
                    continue;
                printed[(s.Replica, s.Index)] = s.State;
                Console.WriteLine($"  stage {s.Index} on {Where(s)} (layers {s.FirstLayer}-{s.LastLayer}): {s.State}{(s.Endpoint is null ? "" : " at " + s.Endpoint)}{(s.Error is null ? "" : ": " + s.Error)}");
            }
            if (d.State is DeploymentStates.Ready or DeploymentStates.Failed)
                return d;
            await Task.Delay(200, token).ConfigureAwait(false);
        }
    }

    internal static void PrintUsage(DeployClient api, string name, string? apiKey = null)
    {
        var key = apiKey ?? "$TESSERA_API_KEY";
        Console.WriteLine();
        Console.WriteLine($"Deployment {name} is ready at {api.BaseUrl}/v1" + (apiKey is null ? " (create an API key with `tessera key create`)." : "."));
        Console.WriteLine($"  curl --cacert {api.Directory.CaCertificate} {api.BaseUrl}/v1/chat/completions \\");
        Console.WriteLine($"    -H \"Authorization: Bearer {key}\" -H \"Content-Type: application/json\" \\");
        Console.WriteLine($"    -d '{{\"model\": \"{name}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello\"}}]}}'");
        Console.WriteLine($"  tessera chat {name} --url {api.BaseUrl}/v1 --api-key {key} --cacert {api.Directory.CaCertificate}");
    }
}
