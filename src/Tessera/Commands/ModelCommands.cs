using System.CommandLine;
using Spectre.Console;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera model inspect|synth</c>: look inside GGUF files and make synthetic ones.</summary>
internal static class ModelCommands
{
    public static Command Create()
    {
        var model = new Command("model", "Inspect GGUF model files and make synthetic ones for benchmarks.");
        model.Subcommands.Add(CreateInspect());
        model.Subcommands.Add(ModelSynthCommand.Create());
        model.Subcommands.Add(ModelPullCommand.Create());
        return model;
    }

    private static Command CreateInspect()
    {
        var file = new Argument<string>("FILE") { Description = "Path of a GGUF file." };
        var all = new Option<bool>("--all") { Description = "Show every metadata value in full instead of abbreviated." };
        var command = new Command("inspect", "Show a GGUF file's metadata and a table of its tensors (name, type, shape, bytes).")
        {
            file, all,
        };
        command.SetAction(result => CliErrors.Run(() => Inspect(result.GetValue(file)!, result.GetValue(all))));
        return command;
    }

    private static int Inspect(string path, bool all)
    {
        using var gguf = GgufFile.Open(path);
        var console = AnsiConsole.Console;
        console.MarkupLine($"[bold]{Markup.Escape(path)}[/]: GGUF v{gguf.Version}, {Format.Bytes(gguf.FileLength)}, {gguf.Metadata.Count} metadata keys, {gguf.Tensors.Count} tensors, alignment {gguf.Alignment}");

        var meta = new Table().Border(TableBorder.Rounded).AddColumn("key").AddColumn("type").AddColumn("value");
        foreach (var key in gguf.Metadata.Keys)
        {
            var value = gguf.Metadata[key];
            meta.AddRow(Markup.Escape(key), gguf.Metadata.GetValueType(key).ToString(), Markup.Escape(GgufMetadata.Describe(value, all ? 100_000 : 80)));
        }
        console.Write(meta);

        var tensors = new Table().Border(TableBorder.Rounded).AddColumn("name").AddColumn("type").AddColumn("shape").AddColumn(new TableColumn("bytes").RightAligned());
        long total = 0;
        var byType = new SortedDictionary<string, long>();
        foreach (var t in gguf.Tensors)
        {
            tensors.AddRow(Markup.Escape(t.Name), t.Type.ToString(), t.ShapeText, Format.Bytes(t.ByteSize));
            total += t.ByteSize;
            byType[t.Type.ToString()] = byType.GetValueOrDefault(t.Type.ToString()) + t.ByteSize;
        }
        console.Write(tensors);
        console.MarkupLine($"Tensor data: {Format.Bytes(total)} ({string.Join(", ", byType.Select(kv => $"{kv.Key} {Format.Bytes(kv.Value)}"))})");
        if (Experts(gguf) is { } experts)
            console.MarkupLine(Markup.Escape(experts));
        var unsupported = gguf.Tensors.Where(t => !GgmlTypeInfo.IsComputeSupported(t.Type)).Select(t => t.Type).Distinct().ToList();
        if (unsupported.Count > 0)
            console.MarkupLine($"[yellow]Types tessera cannot compute yet: {string.Join(", ", unsupported)}[/]");
        return 0;
    }

    /// <summary>
    /// A mixture of experts in words: how many experts, how many each token uses, and the bytes of one expert (its gate,
    /// up and down across the blocks), of all of them, and what a token reads of them; null for a dense model or one whose
    /// metadata tessera cannot read.
    /// </summary>
    internal static string? Experts(GgufFile gguf)
    {
        ModelConfig config;
        try
        {
            config = ModelConfig.FromGguf(gguf);
        }
        catch (GgufFormatException)
        {
            return null;
        }
        if (!config.IsMixtureOfExperts)
            return null;
        var all = gguf.Tensors.Where(t => t.Name.Contains("_exps.", StringComparison.Ordinal)).Sum(t => t.ByteSize);
        var one = all / config.ExpertCount;
        var shared = config.SharedExpertFeedForwardLength > 0 ? $", plus a shared expert of width {config.SharedExpertFeedForwardLength}" : "";
        return $"Mixture of experts: {config.ExpertCount} experts of width {config.ExpertFeedForwardLength} per block, {config.ExpertUsedCount} used per token{shared}; " +
            $"one expert {Format.Bytes(one)} over all blocks, all {Format.Bytes(all)}; a token reads {Format.Bytes(one * config.ExpertUsedCount)} of them.";
    }
}
