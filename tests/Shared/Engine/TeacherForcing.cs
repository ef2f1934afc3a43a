using System.Text;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;

namespace Tessera.Testing;

/// <summary>What <see cref="TeacherForcing.Run"/> found over every generated position of a file's reference cases.</summary>
internal sealed record TeacherForcingResult(int Positions, int Top1Agree, int LogProbWithin, double WorstLogProbError, string Detail)
{
    public double Top1Agreement => (double)Top1Agree / Positions;

    public double FractionWithin => (double)LogProbWithin / Positions;

    public string Summary(string file, double maxLogProbError) =>
        $"{file}: top-1 agreement {Top1Agree}/{Positions} ({Top1Agreement:P1}); log-prob of llama.cpp's top-1 within {maxLogProbError} at {LogProbWithin}/{Positions}; worst error {WorstLogProbError:F4}";
}

/// <summary>
/// Teacher forcing against llama.cpp: feeds each prompt plus llama.cpp's generated tokens through a whole-model stage in
/// one pass and compares the most likely next token and its log-probability at every generated position.
/// </summary>
internal static class TeacherForcing
{
    public static TeacherForcingResult Run(TransformerStage stage, string file, double maxLogProbError) =>
        Run([stage], file, maxLogProbError);

    /// <summary>
    /// The same through a pipeline of stages in layer order, hidden states handed from one to the next as host floats
    /// (as a stage server receives them); only the first <paramref name="maxCases"/> reference cases.
    /// </summary>
    public static TeacherForcingResult Run(IReadOnlyList<TransformerStage> pipeline, string file, double maxLogProbError, int maxCases = int.MaxValue)
    {
        var vocab = pipeline[^1].Config.VocabSize;
        int positions = 0, top1Agree = 0, logProbWithin = 0;
        double worst = 0;
        var detail = new StringBuilder();
        foreach (var c in LlamaCppReference.For(file).Take(maxCases))
        {
            var tokens = c.PromptTokens.Concat(c.Generated.Select(g => g.Id)).ToArray();
            float[] hidden = [];
            foreach (var stage in pipeline)
            {
                using var cache = stage.CreateCache();
                // One pass over prompt and generated tokens; the prompt's positions in the order llama.cpp's prompt batch
                // took, the generated ones as it decoded them.
                BatchSequence[] batch = [new BatchSequence(cache, tokens.Length) { PromptLength = c.PromptTokens.Length }];
                var output = new float[stage.OutputLength(batch, LogitsMode.All)];
                stage.Forward(batch, stage.IsFirst ? tokens : [], hidden, output, LogitsMode.All);
                hidden = output;
            }
            var logits = hidden;

            detail.Append($"  prompt of {c.PromptTokens.Length} tokens, log-prob error by position:");
            for (var i = 0; i < c.Generated.Length; i++)
            {
                var row = logits.AsSpan((c.PromptTokens.Length - 1 + i) * vocab, vocab);
                var expected = c.Generated[i].Top[0];
                var ours = Sampler.TopLogProbabilities(row, 1)[0];
                positions++;
                if (ours.Id == expected.Id)
                    top1Agree++;
                var error = Math.Abs(Sampler.LogProbability(row, expected.Id) - expected.LogProb);
                worst = Math.Max(worst, error);
                if (error <= maxLogProbError)
                    logProbWithin++;
                detail.Append(ours.Id == expected.Id ? " " : " top-1 differs:").Append($"{error:F3}");
            }
            detail.AppendLine();
        }
        return new TeacherForcingResult(positions, top1Agree, logProbWithin, worst, detail.ToString());
    }
}
