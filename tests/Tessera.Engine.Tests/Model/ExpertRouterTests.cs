using Tessera.Engine.Model;

namespace Tessera.Engine.Tests.Model;

/// <summary>The router's choice as llama.cpp makes it: soft max, the most probable experts, their weights.</summary>
public sealed class ExpertRouterTests
{
    [Fact]
    public void EachToken_GetsItsMostProbableExperts_MostProbableFirst_WithTheirProbabilities()
    {
        float[] logits = [0.5f, 2f, -1f, 1f, /* second token */ 3f, 0f, 0f, 2.5f];
        var selected = new int[4];
        var weights = new float[4];

        ExpertRouter.Route(logits, tokens: 2, experts: 4, used: 2, normalize: false, selected, weights);

        Assert.Equal([1, 3, 0, 3], selected);
        var first = Softmax([0.5, 2, -1, 1]);
        Assert.Equal(first[1], weights[0], 6);
        Assert.Equal(first[3], weights[1], 6);
        Assert.Equal(1.0, logits[..4].Sum(), 5); // the row now holds the probabilities
    }

    [Fact]
    public void Normalized_TheChosenWeightsSumToOne()
    {
        float[] logits = [0.5f, 2f, -1f, 1f];
        var selected = new int[2];
        var weights = new float[2];

        ExpertRouter.Route(logits, tokens: 1, experts: 4, used: 2, normalize: true, selected, weights);

        var p = Softmax([0.5, 2, -1, 1]);
        Assert.Equal(p[1] / (p[1] + p[3]), weights[0], 6);
        Assert.Equal(1f, weights[0] + weights[1], 6);
    }

    [Fact]
    public void Ties_AreOrderedAsGgmlsArgsortOrdersThem()
    {
        // ggml's exchange sort: position 0 takes the first larger value it meets, then any larger than that.
        var order = new int[5];
        ExpertRouter.ArgsortDescending([1f, 3f, 3f, 2f, 3f], order);
        Assert.Equal([1, 2, 4, 3, 0], order);
    }

    [Fact]
    public void ManyExperts_TheSoftMaxCoversWholeGroupsAndTheRest()
    {
        // 40 experts: two groups of 16 through the vector exp, 8 through expf; the result is a distribution either way.
        var logits = Enumerable.Range(0, 40).Select(i => (float)Math.Sin(i)).ToArray();
        var expected = Softmax(logits.Select(v => (double)v).ToArray());
        var selected = new int[8];
        var weights = new float[8];

        ExpertRouter.Route(logits, tokens: 1, experts: 40, used: 8, normalize: false, selected, weights);

        var best = expected.Select((p, i) => (p, i)).OrderByDescending(x => x.p).Take(8).Select(x => x.i);
        Assert.Equal(best, selected);
        for (var s = 0; s < 8; s++)
            Assert.Equal(expected[selected[s]], weights[s], 6);
    }

    private static double[] Softmax(double[] x)
    {
        var max = x.Max();
        var e = x.Select(v => Math.Exp(v - max)).ToArray();
        var sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}
