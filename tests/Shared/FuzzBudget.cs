using System.Globalization;

namespace Tessera.Testing;

/// <summary>
/// How much a fuzzing test tries: a count of inputs and a wall-clock cap, both small by default so the suite stays
/// fast, and a fixed seed so a failure reproduces. A longer campaign raises the count with TESSERA_FUZZ_ITERATIONS
/// (the default cap is then lifted, as the count is the bound asked for), caps it with TESSERA_FUZZ_SECONDS, and
/// explores other inputs with TESSERA_FUZZ_SEED. Run one fuzzing test at a time (--filter) when raising the count:
/// the fuzzers' inputs differ in cost by orders of magnitude.
/// </summary>
internal sealed record FuzzBudget(int Iterations, TimeSpan TimeLimit, int Seed)
{
    public static FuzzBudget FromEnvironment(int iterations, TimeSpan timeLimit, int seed)
    {
        var count = Read("TESSERA_FUZZ_ITERATIONS");
        var seconds = Read("TESSERA_FUZZ_SECONDS");
        var limit = seconds is { } s ? TimeSpan.FromSeconds(s) : count is null ? timeLimit : Timeout.InfiniteTimeSpan;
        return new FuzzBudget(count ?? iterations, limit, Read("TESSERA_FUZZ_SEED") ?? seed);
    }

    /// <summary>Starts the clock.</summary>
    public FuzzRun Start() => new(this);

    public override string ToString() =>
        $"seed {Seed}, at most {Iterations} inputs" + (TimeLimit == Timeout.InfiniteTimeSpan ? "" : $" or {TimeLimit.TotalSeconds:0} s");

    private static int? Read(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text
            ? int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
                ? value
                : throw new InvalidOperationException($"{name} must be a non-negative whole number, got '{text}'.")
            : null;
}
