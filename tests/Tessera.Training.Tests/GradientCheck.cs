namespace Tessera.Training.Tests;

/// <summary>
/// Central finite differences on the f32 forward pass, the loss summed in f64. With ε = 1e-2 and values of order 1,
/// the truncation error (ε² f‴ / 6) is about 1e-5 and the f32 rounding of a loss of order 1 (about 1e-6) becomes
/// about 5e-5 in the difference quotient; measured against a floor of 0.1 (the error is
/// |a − n| / max(|a|, |n|, 0.1)) both stay below 1e-3, so a bound of 1e-2 leaves a margin, while a wrong sign or a
/// missing term gives an error of order 1.
/// </summary>
internal static class GradientCheck
{
    public const float Epsilon = 1e-2f;
    public const double Bound = 1e-2;
    private const double Floor = 0.1;

    /// <summary>The largest relative error between <paramref name="analytic"/> and the finite differences of
    /// <paramref name="loss"/> w.r.t. each value of <paramref name="parameter"/>.</summary>
    public static double MaxRelativeError(float[] parameter, ReadOnlySpan<float> analytic, Func<double> loss, float epsilon = Epsilon)
    {
        Assert.Equal(parameter.Length, analytic.Length);
        var worst = 0.0;
        for (var i = 0; i < parameter.Length; i++)
        {
            var saved = parameter[i];
            parameter[i] = saved + epsilon;
            var plus = loss();
            parameter[i] = saved - epsilon;
            var minus = loss();
            parameter[i] = saved;
            var numeric = (plus - minus) / (2.0 * epsilon);
            var error = Math.Abs(analytic[i] - numeric) / Math.Max(Floor, Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric)));
            worst = Math.Max(worst, error);
        }
        return worst;
    }

    public static float[] Random(Random rng, int length, float scale = 1f)
    {
        var values = new float[length];
        for (var i = 0; i < length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>Σ y·r in f64: the scalar loss whose gradient w.r.t. y is r.</summary>
    public static double Project(ReadOnlySpan<float> y, ReadOnlySpan<float> r)
    {
        var sum = 0.0;
        for (var i = 0; i < y.Length; i++) sum += (double)y[i] * r[i];
        return sum;
    }
}
