namespace Tessera.Training.Tests;

/// <summary>AdamW and the DiLoCo outer step against values computed by hand.</summary>
public sealed class OptimizerTests
{
    [Fact]
    public void AdamW_ThreeSteps_MatchTheDirectComputation()
    {
        const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
        float[] p = [1f, -2f];
        float[][] grads = [[0.5f, -1f], [0.2f, 0.3f], [-0.4f, 0.1f]];
        var adam = new AdamW(2, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd);
        double[] expected = [1, -2], m = [0, 0], v = [0, 0];

        for (var t = 1; t <= 3; t++)
        {
            adam.Step(p, grads[t - 1]);
            for (var i = 0; i < 2; i++)
            {
                double g = grads[t - 1][i];
                expected[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                expected[i] -= lr * (m[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v[i] / (1 - Math.Pow(b2, t))) + eps);
                Assert.Equal(expected[i], p[i], 1e-5);
            }
        }
        Assert.Equal(3, adam.Steps);
    }

    [Fact]
    public void AdamW_FirstStep_MovesEachParameterByTheLearningRateAgainstItsGradientsSign()
    {
        // Bias-corrected m̂ / √v̂ = g / |g| on the first step; decay first: 1 · (1 − 0.1 · 0.1) = 0.99.
        float[] p = [1f, 1f];
        var adam = new AdamW(2, learningRate: 0.1f, weightDecay: 0.1f);

        adam.Step(p, [3f, -0.01f]);

        Assert.Equal(0.89f, p[0], 1e-5f);
        Assert.Equal(1.09f, p[1], 1e-5f);
    }

    [Fact]
    public void NesterovOuterStep_TwoRounds_MatchTheHandComputation()
    {
        // Round 1: weighted mean (1:3) of the workers = [0.75, 1.25]; Δ = [0.25, 0.75]; b = Δ; g = Δ + 0.9b = 1.9Δ;
        // global = [1, 2] − 0.7 · [0.475, 1.425] = [0.6675, 1.0025].
        // Round 2: Δ = [−0.0825, −0.2475]; b = 0.9 · [0.25, 0.75] + Δ = [0.1425, 0.4275];
        // g = Δ + 0.9b = [0.04575, 0.13725]; global = [0.635475, 0.906425].
        float[] global = [1f, 2f];
        float[][] workers = [[0f, 2f], [1f, 1f]];
        var outer = new NesterovOuterOptimizer(2, learningRate: 0.7f, momentum: 0.9f);

        outer.Step(global, workers, [1f, 3f]);
        Assert.Equal(0.6675f, global[0], 1e-5f);
        Assert.Equal(1.0025f, global[1], 1e-5f);

        outer.Step(global, workers, [1f, 3f]);
        Assert.Equal(0.635475f, global[0], 1e-5f);
        Assert.Equal(0.906425f, global[1], 1e-5f);
        Assert.Equal(0.1425f, outer.MomentumBuffer[0], 1e-5f);
    }

    [Fact]
    public void NesterovOuterStep_RefusesWeightsThatSumToZero()
    {
        var outer = new NesterovOuterOptimizer(1);

        Assert.Throws<ArgumentOutOfRangeException>(() => outer.Step(new float[1], [new float[1]], [0f]));
    }
}
