using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Tessera.Distribution;
using Tessera.Engine.Gguf;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera models</c>: the GGUF files already on this machine that commands can use without downloading.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var output = PoolCli.OutputOption();
        var command = new Command("models",
            "List the GGUF models already on this machine (Hugging Face's cache, Ollama, LM Studio, Tessera's cache): " +
            "generate, chat, serve, bench and demo take any name listed.")
        {
            output,
        };
        command.SetAction(result => CliErrors.Run(() => List(result.GetValue(output)!)));
        return command;
    }

    private sealed record Row(string Name, string Source, long Bytes, string Architecture, string Quantization, string Path);

    private static int List(string output)
    {
        var rows = DiskModels.Find(ModelLocations.ForThisMachine(ContentStore.DefaultRoot())).Select(Describe).ToList();
        if (output == "json")
        {
            Console.WriteLine(JsonSerializer.Serialize(rows, PoolCli.Json));
            return 0;
        }
        if (rows.Count == 0)
        {
            Console.WriteLine("No GGUF models found in Hugging Face's cache, Ollama, LM Studio or Tessera's cache. Use a path, hf://owner/repo/file.gguf, or `tessera model pull`.");
            return 0;
        }
        var table = new Table().AddColumns("Name", "Source", "Size", "Architecture", "Quantization", "Path");
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Name), r.Source, Format.Bytes(r.Bytes), Markup.Escape(r.Architecture), Markup.Escape(r.Quantization), Markup.Escape(r.Path));
        PoolCli.WriteTable(table);
        return 0;
    }

    /// <summary>A model with its architecture and quantization read from its header; "?" where the file cannot be read.</summary>
    private static Row Describe(DiskModel m)
    {
        try
        {
            using var gguf = GgufFile.Open(m.Path);
            var weights = gguf.Tensors.Where(t => t.Dimensions.Length >= 2).GroupBy(t => t.Type).OrderByDescending(g => g.Sum(t => t.ByteSize)).FirstOrDefault();
            return new Row(m.Name, m.Source, m.Bytes, gguf.Architecture, weights?.Key.ToString() ?? "-", m.Path);
        }
        catch (Exception e) when (e is GgufFormatException or IOException or UnauthorizedAccessException)
        {
            return new Row(m.Name, m.Source, m.Bytes, "?", "?", m.Path);
        }
    }
}
