using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tessera.Deploy;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera plan MODEL</c>: where a deployment's layers would go on the live pool and how fast, without deploying.</summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The model as `tessera deploy` takes it: a GGUF path on the coordinator's machine, hf://owner/repo/file.gguf or hf://owner/repo:Q4_K_M." };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length the time to first token is predicted for.", DefaultValueFactory = _ => PlanQuery.DefaultPromptTokens };
        var explain = new Option<bool>("--explain") { Description = "Also list the alternatives the planner rejected, and why." };
        var output = PoolCli.OutputOption();
        var command = new Command("plan", "Show where a model's layers would run on the pool and how fast, before deploying it (same options as deploy; nothing is started).");
        command.Arguments.Add(model);
        var planning = PlanningOptions.AddTo(command);
        command.Options.Add(promptTokens);
        command.Options.Add(explain);
        command.Options.Add(output);
        var client = DeployClient.AddOptions(command);
        command.Subcommands.Add(PlanSimulateCommand.Create());
        command.Subcommands.Add(PlanCheckCommand.Create());
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var request = planning(result, DeployCommand.ModelArgument(result.GetValue(model)!));
            var plan = await api.PlanAsync(request, new PlanQuery(result.GetValue(promptTokens), result.GetValue(explain) ? true : null), ct).ConfigureAwait(false);
            if (result.GetValue(output) == "json")
                PoolCli.WriteJson(plan);
            else
                Print(plan);
            return 0;
        }));
        return command;
    }

    private static void Print(PlanView plan)
    {
        var replicas = plan.Replicas == 1 ? "1 replica" : $"{plan.Replicas} replicas";
        Console.WriteLine($"Plan for {plan.Name} ({plan.LayerCount} layers, {DeployCommand.Bytes(plan.ModelBytes)}): {replicas}, {plan.Stages.Count} stage(s), " +
            $"context {plan.ContextLength} x {plan.MaxSessions} sessions, {plan.Activations} activations.");
        var table = new Table().AddColumns("Stage", "Node", "Device", "Layers", "Weights", "KV cache", "Memory used / usable", "Compute / token", "Hop / token");
        foreach (var s in plan.Stages)
        {
            table.AddRow(
                plan.Replicas > 1 ? $"{s.Replica}.{s.Index}" : s.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(s.NodeName),
                Markup.Escape(s.Device),
                $"{s.FirstLayer}-{s.LastLayer}",
                DeployCommand.Bytes(s.WeightBytes),
                DeployCommand.Bytes(s.KvBytes),
                $"{DeployCommand.Bytes(s.MemoryBytes)} / {DeployCommand.Bytes(s.AvailableBytes)}",
                Ms(s.ComputeMilliseconds),
                Ms(s.HopMilliseconds));
        }
        PoolCli.WriteTable(table);
        Console.WriteLine($"Predicted: {Rate(plan.SingleStreamTokensPerSecond)} single-stream, {Rate(plan.MaxThroughputTokensPerSecond)} with every stage busy; " +
            $"per token p50 {Ms(plan.TokenLatencyP50Milliseconds)}, p99 {Ms(plan.TokenLatencyP99Milliseconds)} (with the links' jitter); " +
            $"a prompt of {plan.PromptTokens} tokens: prefill {Seconds(plan.PrefillSeconds)}, first token after {Seconds(plan.TimeToFirstTokenSeconds)}.");
        if (!string.IsNullOrWhiteSpace(plan.Explanation))
            Console.WriteLine(plan.Explanation);
        if (plan.Alternatives.Count == 0)
            return;
        Console.WriteLine("Not chosen:");
        var alternatives = new Table().AddColumns("Alternative", "Why not", "Single-stream", "Every stage busy", "Token p99", "Why");
        foreach (var a in plan.Alternatives)
        {
            alternatives.AddRow(Markup.Escape(a.Description), Markup.Escape(a.Reason), a.SingleStreamTokensPerSecond is { } single ? Rate(single) : "-",
                a.MaxThroughputTokensPerSecond is { } busy ? Rate(busy) : "-", a.TokenLatencyP99Milliseconds is { } p99 ? Ms(p99) : "-", Markup.Escape(a.Why));
        }
        PoolCli.WriteTable(alternatives);
    }

    private static string Seconds(double seconds) => seconds < 1 ? Ms(seconds * 1000) : seconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";

    private static string Ms(double ms) => ms.ToString(ms < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Rate(double tokensPerSecond) =>
        tokensPerSecond > 0 ? tokensPerSecond.ToString("0.0", CultureInfo.InvariantCulture) + " tokens/s" : "unknown";
}
