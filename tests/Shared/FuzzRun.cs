using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Tessera.Testing;

/// <summary>One run of a fuzzer within its <see cref="FuzzBudget"/>: the inputs to try, and the failures found.</summary>
internal sealed class FuzzRun(FuzzBudget budget)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<string> _failures = [];

    public FuzzBudget Budget => budget;

    public int Tried { get; private set; }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>
    /// Input indices with their own <see cref="Random"/>, seeded from the seed and the index, so that input i is the
    /// same whatever came before it; while the count and the time cap allow.
    /// </summary>
    public IEnumerable<(int Index, Random Random)> Inputs()
    {
        for (var i = 0; i < budget.Iterations && (budget.TimeLimit == Timeout.InfiniteTimeSpan || _clock.Elapsed < budget.TimeLimit); i++)
        {
            Tried = i + 1;
            yield return (i, new Random(unchecked(budget.Seed * 1_000_003 + i)));
        }
    }

    public void Fail(int index, string what) => _failures.Add($"#{index} {what}");

    /// <summary>
    /// Writes <paramref name="summary"/> and the first failures, then asserts there were none, and that at least
    /// <paramref name="minimum"/> inputs (or the whole count) ran: a machine too slow for that tested too little.
    /// </summary>
    public void AssertNoFailures(ITestOutputHelper output, string summary, int minimum)
    {
        output.WriteLine($"{budget}: tried {Tried} in {Elapsed.TotalSeconds:F1} s; {summary}");
        foreach (var failure in _failures.Take(20))
            output.WriteLine(failure);
        Assert.True(_failures.Count == 0, $"{_failures.Count} failures (seed {budget.Seed}); the first: {_failures.FirstOrDefault()}");
        Assert.True(Tried >= Math.Min(budget.Iterations, minimum), $"only {Tried} inputs in {Elapsed}");
    }
}
