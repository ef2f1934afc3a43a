namespace Tessera.Training.Tests;

/// <summary>The codec for exchanged changes, the round's rejection rule and weighted average, the outer step on an averaged pseudo-gradient, the schedule.</summary>
public sealed class ExchangeMathTests
{
    private static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    [Theory]
    [InlineData(DeltaCompression.F32, 4000, 0.0)]
    [InlineData(DeltaCompression.F16, 2000, 1.0 / 2048)] // f16 keeps 11 significant bits: relative error ≤ 2^-11
    [InlineData(DeltaCompression.Int8, 1064, 0.5 / 127)]  // 1000 bytes + 16 f32 scales; error ≤ half a step of max|block|/127
    public void Codec_RoundTripsWithinItsPrecision(DeltaCompression compression, int expectedBytes, double bound)
    {
        var x = Random(1000, 1, scale: 0.01f);
        x[17] = 0.5f; // an outlier costs precision only in its own block
        var bytes = DeltaCodec.Encode(x, compression);
        Assert.Equal(expectedBytes, bytes.Length);
        var y = new float[x.Length];
        DeltaCodec.Decode(bytes, compression, y);
        for (var i = 0; i < x.Length; i++)
        {
            var scale = compression == DeltaCompression.Int8 ? MaxInBlock(x, i) : Math.Abs(x[i]);
            // f16 below 6.1e-5 is subnormal: a fixed step of 2^-24 there
            Assert.True(Math.Abs(x[i] - y[i]) <= bound * scale + 6e-8, $"{compression} value {i}: {x[i]} came back as {y[i]}");
        }
        if (compression == DeltaCompression.Int8)
            Assert.True(Math.Abs(x[100] - y[100]) < 1e-4, "a block without the outlier keeps its own fine scale");
    }

    private static double MaxInBlock(float[] x, int i)
    {
        var start = i / DeltaCodec.Int8BlockSize * DeltaCodec.Int8BlockSize;
        var max = 0.0;
        for (var j = start; j < Math.Min(x.Length, start + DeltaCodec.Int8BlockSize); j++) max = Math.Max(max, Math.Abs(x[j]));
        return max;
    }

    [Theory]
    [InlineData(DeltaCompression.F16)]
    [InlineData(DeltaCompression.Int8)]
    public void Codec_KeepsANaNVisible(DeltaCompression compression)
    {
        var x = Random(200, 2);
        x[70] = float.NaN;
        var y = new float[x.Length];
        DeltaCodec.Decode(DeltaCodec.Encode(x, compression), compression, y);
        Assert.Contains(y, float.IsNaN);
    }

    [Fact]
    public void Codec_RefusesAChangeOfTheWrongLength()
    {
        var bytes = DeltaCodec.Encode(Random(100, 3), DeltaCompression.Int8);
        var ex = Assert.Throws<FormatException>(() => DeltaCodec.Decode(bytes.AsSpan(0, bytes.Length - 1), DeltaCompression.Int8, new float[100]));
        Assert.Contains("bytes", ex.Message);
        Assert.Throws<FormatException>(() => DeltaCodec.Parse("q4"));
    }

    [Fact]
    public void Aggregate_IsTheTokenWeightedMean()
    {
        var a = Random(50, 4);
        var b = Random(50, 5);
        var c = Random(50, 6);
        var mean = new float[50];
        var verdicts = new RoundAggregator().Aggregate([new Contribution("a", a, 100), new Contribution("b", b, 300), new Contribution("c", c, 600)], mean);
        Assert.All(verdicts, v => Assert.True(v.Accepted, v.Rejection));
        for (var i = 0; i < 50; i++)
            Assert.Equal(0.1 * a[i] + 0.3 * b[i] + 0.6 * c[i], mean[i], 1e-6);
    }

    [Fact]
    public void Aggregate_RejectsNaNAndAHugeNorm_AndAveragesTheRest()
    {
        var honest1 = Random(64, 7);
        var honest2 = Random(64, 8);
        var nan = Random(64, 9);
        nan[3] = float.NaN;
        var huge = Random(64, 10, scale: 1000f);
        var mean = new float[64];
        var verdicts = new RoundAggregator().Aggregate([
            new Contribution("h1", honest1, 10), new Contribution("nan", nan, 10), new Contribution("huge", huge, 10), new Contribution("h2", honest2, 30)], mean);

        Assert.Equal(["h1", "h2"], verdicts.Where(v => v.Accepted).Select(v => v.Worker));
        Assert.Contains("NaN", verdicts[1].Rejection);
        Assert.Contains("median", verdicts[2].Rejection);
        for (var i = 0; i < 64; i++) Assert.Equal(0.25 * honest1[i] + 0.75 * honest2[i], mean[i], 1e-6);
    }

    [Fact]
    public void Aggregate_WithTwoWorkers_RejectsThePoisonedOneNotTheHonestOne()
    {
        var honest = Random(64, 11);
        var poisoned = Random(64, 12, scale: 1000f);
        var mean = new float[64];
        var verdicts = new RoundAggregator().Aggregate([new Contribution("honest", honest, 10), new Contribution("poisoned", poisoned, 10)], mean);
        Assert.True(verdicts[0].Accepted, verdicts[0].Rejection);
        Assert.False(verdicts[1].Accepted);
        Assert.Equal(honest, mean);
    }

    [Fact]
    public void Aggregate_AloneInARound_IsComparedWithTheLastRoundsAcceptedNorms()
    {
        var aggregator = new RoundAggregator();
        var mean = new float[64];
        Assert.True(aggregator.Aggregate([new Contribution("a", Random(64, 13), 10), new Contribution("b", Random(64, 14), 10)], mean).All(v => v.Accepted));
        var alone = aggregator.Aggregate([new Contribution("a", Random(64, 15, scale: 100f), 10)], mean);
        Assert.False(alone[0].Accepted);
        Assert.All(mean, v => Assert.Equal(0f, v));
        Assert.True(new RoundAggregator().Aggregate([new Contribution("first", Random(64, 15, scale: 100f), 10)], mean)[0].Accepted, "with no reference only finiteness counts");
    }

    [Fact]
    public void OuterStep_OnTheAveragedPseudoGradient_EqualsTheStepOnWorkersParameters()
    {
        var global = Random(40, 16);
        var w1 = Random(40, 17);
        var w2 = Random(40, 18);
        var viaWorkers = (float[])global.Clone();
        var viaDelta = (float[])global.Clone();
        var a = new NesterovOuterOptimizer(40);
        var b = new NesterovOuterOptimizer(40);
        for (var round = 0; round < 3; round++)
        {
            a.Step(viaWorkers, [w1, w2], [1f, 3f]);
            var pseudo = new float[40];
            for (var i = 0; i < 40; i++) pseudo[i] = viaDelta[i] - (0.25f * w1[i] + 0.75f * w2[i]);
            b.StepWithPseudoGradient(viaDelta, pseudo);
        }
        for (var i = 0; i < 40; i++) Assert.Equal(viaWorkers[i], viaDelta[i], 1e-5f);
    }

    [Fact]
    public void Schedule_WarmsUpLinearlyThenDecaysByCosineToTheFloor()
    {
        var s = new LearningRateSchedule(Peak: 1e-3f, WarmupSteps: 10, TotalSteps: 110, MinimumFraction: 0.1f);
        Assert.Equal(1e-4f, s.At(0), 1e-9f);
        Assert.Equal(1e-3f, s.At(9), 1e-9f);
        Assert.Equal(1e-3f, s.At(10), 1e-9f);
        Assert.Equal(0.55e-3f, s.At(60), 1e-8f); // halfway: (0.1 + 0.9 * 0.5) of the peak
        Assert.Equal(1e-4f, s.At(110), 1e-9f);
        Assert.Equal(1e-4f, s.At(500), 1e-9f);
    }
}
