using System.CommandLine;
using System.Text.Json;
using Tessera.Engine.Generation;
using Tessera.Engine.Gpu;
using Tessera.Engine.Sampling;
using Tessera.Engine.Templates;
using Tessera.Generation;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera generate</c>: stream text from a model in this process.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "The model: " + ModelArgument.Forms + ". Without it, a small synthetic model is made once and reused." };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text.", DefaultValueFactory = _ => "Once upon a time" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature") { Description = "0 for greedy.", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = off).", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold.", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens less likely than min-p times the best.", DefaultValueFactory = _ => 0.05f };
        var repeat = new Option<float>("--repeat-penalty") { Description = "Repetition penalty (1 = off).", DefaultValueFactory = _ => 1.0f };
        var frequency = new Option<float>("--frequency-penalty") { DefaultValueFactory = _ => 0f };
        var presence = new Option<float>("--presence-penalty") { DefaultValueFactory = _ => 0f };
        var seed = new Option<ulong?>("--seed") { Description = "Random seed; the same seed gives the same text (default: random, printed in the summary)." };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: all cores).", DefaultValueFactory = _ => 0 };
        var context = new Option<int?>("--context", "-c") { Description = "Context length (default: the model's)." };
        var chat = new Option<bool>("--chat") { Description = "Wrap the prompt with the model's chat template as a user message." };
        var system = new Option<string?>("--system") { Description = "System message when --chat is used." };
        var output = new Option<string>("--output", "-o") { Description = "text, or json: one object per token then a summary.", DefaultValueFactory = _ => "text" };
        var device = ComputeDeviceOption.Create();
        var grammarFile = new Option<string?>("--grammar-file") { Description = GrammarArgument.GrammarDescription };
        var jsonSchema = new Option<string?>("--json-schema") { Description = GrammarArgument.SchemaDescription };
        output.AcceptOnlyFromAmong("text", "json");

        var command = new Command("generate", "Generate text from a GGUF model on this machine, streaming tokens as they come.")
        {
            model, prompt, maxTokens, temperature, topK, topP, minP, repeat, frequency, presence, seed, threads, context, chat, system, output, device,
            grammarFile, jsonSchema,
        };
        command.SetAction((result, cancellation) => CliErrors.RunAsync(() => Task.FromResult(Run(
            result.GetValue(model), result.GetValue(prompt)!, result.GetValue(maxTokens), new SamplingParameters
            {
                Temperature = result.GetValue(temperature),
                TopK = result.GetValue(topK),
                TopP = result.GetValue(topP),
                MinP = result.GetValue(minP),
                RepetitionPenalty = result.GetValue(repeat),
                FrequencyPenalty = result.GetValue(frequency),
                PresencePenalty = result.GetValue(presence),
                Seed = result.GetValue(seed) ?? (ulong)Random.Shared.NextInt64(),
            },
            result.GetValue(threads), result.GetValue(context), result.GetValue(chat), result.GetValue(system), result.GetValue(output) == "json", result.GetValue(device)!,
            GrammarArgument.Resolve(result.GetValue(grammarFile), result.GetValue(jsonSchema)), cancellation))));
        return command;
    }

    private static int Run(string? modelPath, string prompt, int maxTokens, SamplingParameters sampling, int threads, int? context,
        bool chat, string? system, bool json, string device, string? grammar, CancellationToken cancellation)
    {
        sampling.Validate();
        if (maxTokens < 0)
            throw new ArgumentException("--max-tokens must be zero or positive.");
        using var model = LocalModel.Load(ModelArgument.Resolve(modelPath, cancellation), threads, context, device, DeviceBackendFactory.Instance);
        int[] tokens;
        if (chat)
        {
            var messages = new List<ChatMessage>();
            if (system != null)
                messages.Add(new ChatMessage("system", system));
            messages.Add(new ChatMessage("user", prompt));
            tokens = model.TokenizeChat(messages);
        }
        else
        {
            tokens = model.Tokenizer.Encode(prompt, addSpecial: true, parseSpecial: false);
        }

        var stats = new GenerationStats();
        var stdout = Console.Out;
        if (!json)
        {
            stdout.Write(prompt);
            if (chat)
                stdout.WriteLine();
        }
        foreach (var token in model.Generator.Generate(tokens, sampling, maxTokens, stats, cancellation: cancellation, grammar: grammar))
        {
            if (json)
                stdout.WriteLine(JsonSerializer.Serialize(new TokenLine(token.Id, token.Text, token.LogProb), CliJson.Options));
            else
                stdout.Write(token.Text);
            stdout.Flush();
        }

        var summary = new SummaryLine(stats.PromptTokens, stats.GeneratedTokens, stats.FinishReason,
            Math.Round(stats.PrefillTime.TotalMilliseconds, 2), Math.Round(stats.DecodeTime.TotalMilliseconds, 2),
            Math.Round(stats.PrefillTokensPerSecond, 2), Math.Round(stats.DecodeTokensPerSecond, 2), sampling.Seed, model.Backend.Name);
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(summary, CliJson.Options));
        }
        else
        {
            stdout.WriteLine();
            Console.Error.WriteLine($"[{stats.PromptTokens} prompt tokens at {summary.PrefillTokensPerSecond:F1} t/s, {stats.GeneratedTokens} generated at {summary.DecodeTokensPerSecond:F1} t/s, finish: {stats.FinishReason}, seed {sampling.Seed}, {model.Backend.Name}]");
        }
        return 0;
    }

    private sealed record TokenLine(int Id, string Text, float Logprob);

    private sealed record SummaryLine(int PromptTokens, int GeneratedTokens, string FinishReason, double PrefillMs, double DecodeMs,
        double PrefillTokensPerSecond, double DecodeTokensPerSecond, ulong Seed, string Backend);
}
