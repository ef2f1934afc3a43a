using System.CommandLine;
using Tessera.Engine.Synthetic;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera model synth</c>: a random-weight model of a real shape, for benchmarks.</summary>
internal static class ModelSynthCommand
{
    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = $"Model shape: {string.Join(", ", ModelShape.All.Select(s => s.Name))}.", Required = true };
        var type = new Option<string>("--type")
        {
            Description = $"Tensor type: {string.Join(", ", SyntheticModelWriter.SupportedTypes)}, or a mixture chosen per tensor as llama.cpp does: {string.Join(", ", QuantizationMix.Mixtures)}.",
            DefaultValueFactory = _ => "Q4_0",
        };
        var vocab = new Option<string?>("--vocab") { Description = "A GGUF whose tokenizer is copied (e.g. ggml-vocab-llama-spm.gguf); else a byte-level vocabulary is made." };
        var output = new Option<string>("--out") { Description = "Where to write the GGUF file.", Required = true };
        var command = new Command("synth", "Write a random-weight model of a real shape in any supported type.") { shape, type, vocab, output };
        command.SetAction(result => CliErrors.Run(() =>
        {
            var s = ModelShape.Find(result.GetValue(shape)!);
            var t = ParseType(result.GetValue(type)!);
            var path = result.GetValue(output)!;
            DefaultModel.Synthesize(path, s, t, result.GetValue(vocab));
            Console.WriteLine($"wrote {path} ({Format.Bytes(new FileInfo(path).Length)}, {s.ParameterCount / 1e9:F2}B parameters, {t})");
            return 0;
        }));
        return command;
    }

    public static QuantizationMix ParseType(string text) => QuantizationMix.Parse(text, SyntheticModelWriter.SupportedTypes);
}
