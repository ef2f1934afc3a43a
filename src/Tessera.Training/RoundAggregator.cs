using System.Numerics.Tensors;

namespace Tessera.Training;

/// <summary>One worker's contribution to a round: its parameter change (global − its parameters) and the tokens it trained on.</summary>
public sealed record Contribution(string Worker, float[] Delta, long Tokens);

/// <summary>Why a contribution was left out, or null when it was averaged in.</summary>
public sealed record ContributionVerdict(string Worker, double Norm, string? Rejection)
{
    /// <summary>Whether it was averaged in.</summary>
    public bool Accepted => Rejection is null;
}

/// <summary>
/// The coordinator's round: checks each contribution and averages the accepted ones weighted by the tokens each worker
/// processed. The rule for rejecting one (documented in docs/training.md):
/// <list type="bullet">
/// <item>any NaN or infinity in its change, or no tokens: rejected;</item>
/// <item>its L2 norm above <see cref="NormFactor"/> times the median of the <i>reference norms</i>: the other
/// contributions' norms in this round together with the norms accepted in the previous round. Honest workers run the
/// same number of steps at the same learning rate from the same point, so their norms agree within tens of percent; a
/// poisoned or diverged change is orders of magnitude off. With no reference (the first round's only worker) only the
/// finiteness check applies.</item>
/// </list>
/// Comparing each contribution against the others (not against a mean that includes it) keeps one huge change from
/// raising its own bar.
/// </summary>
public sealed class RoundAggregator
{
    /// <summary>How far above the median reference norm a change may be before it is rejected.</summary>
    public const double NormFactor = 5.0;

    private double[] _previousAccepted = [];

    /// <summary>The norms accepted in the last round (for checkpoints; restored with <see cref="Restore"/>).</summary>
    public IReadOnlyList<double> PreviousAcceptedNorms => _previousAccepted;

    /// <summary>Restores the previous round's accepted norms after a restart.</summary>
    public void Restore(IEnumerable<double> previousAcceptedNorms) => _previousAccepted = previousAcceptedNorms.ToArray();

    /// <summary>
    /// Checks every contribution and writes the token-weighted mean change of the accepted ones into
    /// <paramref name="meanDelta"/> (zero when none is accepted). Returns one verdict per contribution, in order.
    /// </summary>
    public IReadOnlyList<ContributionVerdict> Aggregate(IReadOnlyList<Contribution> contributions, Span<float> meanDelta)
    {
        var norms = new double[contributions.Count];
        var finite = new bool[contributions.Count];
        for (var i = 0; i < contributions.Count; i++)
        {
            var d = contributions[i].Delta;
            if (d.Length != meanDelta.Length) throw new ArgumentException($"{contributions[i].Worker}'s change has {d.Length} values, not {meanDelta.Length}.", nameof(contributions));
            finite[i] = AllFinite(d);
            norms[i] = finite[i] ? Math.Sqrt(SumOfSquares(d)) : double.NaN;
        }

        var verdicts = new ContributionVerdict[contributions.Count];
        for (var i = 0; i < contributions.Count; i++)
        {
            string? rejection = null;
            if (!finite[i]) rejection = "its change holds NaN or infinity";
            else if (contributions[i].Tokens <= 0) rejection = "it trained on no tokens";
            else
            {
                var reference = new List<double>(_previousAccepted);
                for (var j = 0; j < contributions.Count; j++)
                    if (j != i && finite[j]) reference.Add(norms[j]);
                if (reference.Count > 0)
                {
                    var median = Median(reference);
                    if (norms[i] > NormFactor * median)
                        rejection = $"its norm {norms[i]:G4} is more than {NormFactor}x the median {median:G4} of the others' and the last round's";
                }
            }
            verdicts[i] = new ContributionVerdict(contributions[i].Worker, norms[i], rejection);
        }

        meanDelta.Clear();
        double total = 0;
        for (var i = 0; i < contributions.Count; i++)
            if (verdicts[i].Accepted) total += contributions[i].Tokens;
        var accepted = new List<double>();
        for (var i = 0; i < contributions.Count; i++)
        {
            if (!verdicts[i].Accepted) continue;
            TensorPrimitives.MultiplyAdd(contributions[i].Delta, (float)(contributions[i].Tokens / total), meanDelta, meanDelta);
            accepted.Add(norms[i]);
        }
        if (accepted.Count > 0) _previousAccepted = accepted.ToArray();
        return verdicts;
    }

    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
            if (!float.IsFinite(v)) return false;
        return true;
    }

    private static double SumOfSquares(ReadOnlySpan<float> values)
    {
        double sum = 0;
        const int chunk = 4096; // f32 partial sums over short chunks, added in f64: exact enough, fast
        for (var start = 0; start < values.Length; start += chunk)
        {
            var part = values.Slice(start, Math.Min(chunk, values.Length - start));
            sum += TensorPrimitives.Dot(part, part);
        }
        return sum;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        var n = values.Count;
        return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    }
}
