using Spectre.Console;
using Tessera.Engine.Synthetic;
using Tessera.Engine.Tensors;

namespace Tessera.Cli.Commands;

/// <summary>
/// The model used when none is given: a small synthetic model made once under the tessera home folder
/// ($TESSERA_HOME, else ~/.tessera) and reused, so the main commands always run on a fresh machine.
/// </summary>
internal static class DefaultModel
{
    public static string Home =>
        Environment.GetEnvironmentVariable("TESSERA_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".tessera");

    public static string EnsureExists()
    {
        var path = Path.Combine(Home, "models", "synthetic-tiny-q8_0.gguf");
        if (File.Exists(path))
            return path;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Console.Error.WriteLine($"No --model given: making a small synthetic model (random weights, so the text is gibberish) at {path}.");
        Console.Error.WriteLine("Use a real GGUF with --model FILE (any Llama, Mistral, Qwen2 or TinyLlama GGUF).");
        Synthesize(path, ModelShape.Tiny, QuantizationMix.Pure(GgmlType.Q8_0), null);
        return path;
    }

    public static void Synthesize(string path, ModelShape shape, QuantizationMix type, string? vocab)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"writing {Path.GetFileName(path)}", maxValue: 1);
                SyntheticModelWriter.Write(path, shape, type, vocab, progress: (done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                });
                task.Value = task.MaxValue;
            });
    }
}
