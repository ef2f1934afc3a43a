using static Tessera.Training.Tests.GradientCheck;

namespace Tessera.Training.Tests;

/// <summary>The whole model's gradient against finite differences, and a few AdamW steps lowering its loss.</summary>
public sealed class LlamaModelTests
{
    private static readonly LlamaConfig Tiny = new(Vocab: 8, Dim: 8, Layers: 2, Heads: 2, KvHeads: 1, HiddenDim: 12, RopeBase: 100f);
    private static readonly int[] Tokens = [1, 5, 2, 7, 3];
    private static readonly int[] Targets = [5, 2, 7, 3, 0];

    [Fact]
    public void WholeModelGradient_MatchesFiniteDifferences()
    {
        var model = new LlamaModel(Tiny);
        model.Initialize(seed: 11);
        Assert.InRange(model.Parameters.Length, 1000, 2000);

        model.Forward(Tokens, Targets);
        model.Backward();

        // Through two blocks the loss has more curvature than one layer: ε = 1e-2 leaves a truncation error of 9e-3
        // (it falls as ε², measured), ε = 1e-3 an f32 rounding error of 1.7e-3; ε = 3e-3 gives 1e-3, a tenth of the bound.
        Assert.InRange(MaxRelativeError(model.Parameters, model.Gradients, () => model.Forward(Tokens, Targets), epsilon: 3e-3f), 0, Bound);
    }

    [Fact]
    public void AdamWSteps_LowerTheLoss()
    {
        var model = new LlamaModel(Tiny);
        model.Initialize(seed: 12);
        var adam = new AdamW(model.Parameters.Length, learningRate: 1e-2f, weightDecay: 0f);
        var first = model.Forward(Tokens, Targets);

        for (var step = 0; step < 30; step++)
        {
            model.Forward(Tokens, Targets);
            model.Backward();
            adam.Step(model.Parameters, model.Gradients);
        }

        Assert.True(model.Forward(Tokens, Targets) < first * 0.5f);
    }
}
