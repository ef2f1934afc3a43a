using Xunit.Abstractions;

namespace Tessera.Training.Tests;

/// <summary>
/// The whole model's loss and gradient against <see cref="ScalarReference"/>: the same loss written again scalar by scalar
/// in f64 and differentiated by reverse-mode autodiff, not by the layers' hand-derived backward passes.
/// </summary>
public sealed class WholeModelReferenceTests(ITestOutputHelper output)
{
    public static TheoryData<LlamaConfig, int[]> Cases => new()
    {
        // LlamaModelTests' shape: 2 query heads on 1 kv head.
        { new LlamaConfig(Vocab: 8, Dim: 8, Layers: 2, Heads: 2, KvHeads: 1, HiddenDim: 12, RopeBase: 100f), [1, 5, 2, 7, 3, 0] },
        // 4 query heads on 2 kv heads, heads of 4, a longer sequence with repeated tokens, RoPE's usual base.
        { new LlamaConfig(Vocab: 11, Dim: 16, Layers: 2, Heads: 4, KvHeads: 2, HiddenDim: 20), [3, 9, 9, 1, 10, 3, 4, 9, 0] },
    };

    // The model computes in f32 (unit roundoff 6e-8), the reference in f64. Measured, the model's gradient is off by at
    // most 7e-7 of the largest component (about a dozen roundoffs of it) wherever the component is: small components
    // are sums of large terms that cancel, and keep that absolute error, not a relative one (one of 6e-4 when the
    // largest is 0.6 was 4 % off). So each error is |model − reference| / max(|reference|, 1e-2 · largest |reference|):
    // relative for every component above 1 % of the largest, and 1e-4 of 1 % of the largest below. Measured worst:
    // 2.7e-5 and 5.5e-6 for the two cases; the bound 1e-4 leaves a margin of 4, while a wrong sign, a missing term or a
    // factor off by more than 1e-4 on any component above 1 % of the largest fails it.
    private const double Bound = 1e-4;

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheModelsGradient_MatchesTheScalarReference_OnEveryParameter(LlamaConfig config, int[] sequence)
    {
        var model = RandomModel(config, seed: 21);
        int[] tokens = sequence[..^1], targets = sequence[1..];

        var loss = model.Forward(tokens, targets);
        model.Backward();
        var (referenceLoss, reference) = ScalarReference.LossAndGradient(config, model.Parameters, tokens, targets);

        Assert.Equal(referenceLoss, loss, 5e-6 * referenceLoss);
        var floor = 1e-2 * reference.Max(Math.Abs);
        var worst = 0.0;
        var worstAt = -1;
        for (var i = 0; i < reference.Length; i++)
        {
            var error = Math.Abs(model.Gradients[i] - reference[i]) / Math.Max(Math.Abs(reference[i]), floor);
            if (error > worst) (worst, worstAt) = (error, i);
        }
        output.WriteLine($"{model.Parameters.Length} parameters; loss {loss} vs {referenceLoss:R}; worst relative gradient error {worst:E2} at {worstAt}");
        Assert.InRange(worst, 0, Bound);
    }

    /// <summary>The reference's own autodiff against f64 central differences of its own loss, on a spread of parameters:
    /// a check that the reference differentiates what it computes (ε = 1e-5 gives errors near 1e-9 in f64).</summary>
    [Fact]
    public void TheReferencesGradient_MatchesItsOwnFiniteDifferences()
    {
        var (config, sequence) = (new LlamaConfig(Vocab: 8, Dim: 8, Layers: 2, Heads: 2, KvHeads: 1, HiddenDim: 12, RopeBase: 100f), new[] { 1, 5, 2, 7, 3, 0 });
        var model = RandomModel(config, seed: 22);
        int[] tokens = sequence[..^1], targets = sequence[1..];
        var (_, gradient) = ScalarReference.LossAndGradient(config, model.Parameters, tokens, targets);
        var values = model.Parameters.Select(v => (double)v).ToArray();

        var worst = 0.0;
        for (var i = 0; i < values.Length; i += 13)
        {
            const double epsilon = 1e-5;
            var saved = values[i];
            values[i] = saved + epsilon;
            var plus = ScalarReference.LossOnly(config, values, tokens, targets);
            values[i] = saved - epsilon;
            var minus = ScalarReference.LossOnly(config, values, tokens, targets);
            values[i] = saved;
            var numeric = (plus - minus) / (2 * epsilon);
            worst = Math.Max(worst, Math.Abs(gradient[i] - numeric) / Math.Max(Math.Abs(numeric), 1e-3));
        }
        output.WriteLine($"worst relative error against f64 finite differences {worst:E2}");
        Assert.InRange(worst, 0, 1e-6);
    }

    /// <summary>Random matrices and norm weights away from 1 (so a norm weight applied twice or not at all shows).</summary>
    private static LlamaModel RandomModel(LlamaConfig config, int seed)
    {
        var model = new LlamaModel(config);
        model.Initialize(seed);
        var rng = new Random(seed + 1000);
        var o = model.Offsets;
        foreach (var at in o.Blocks.SelectMany(b => new[] { b.AttentionNorm, b.FeedForwardNorm }).Append(o.FinalNorm))
            for (var i = 0; i < config.Dim; i++) model.Parameters[at + i] = 0.5f + (float)rng.NextDouble();
        return model;
    }
}
