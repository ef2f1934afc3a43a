using System.Diagnostics;
using System.Globalization;
using Tessera.Planner;

namespace Tessera.Bench;

/// <summary>
/// Planning time at scale (issue 20): median wall time of <see cref="PoolPlanner.Plan"/> on deterministic synthetic
/// pools (<see cref="SyntheticPool"/>, seed 7) of 1,000, 3,000 and 10,000 devices, for one replica, four, automatic
/// replicas, and one replica with the alternatives of <c>--explain</c>, and two models: 80 blocks of 1 GB (a 70B model in 8 bits, two large cards) and 126 blocks of
/// 3.2 GB (a 405B model in 8 bits, five or more devices).
/// Usage: <c>dotnet run -c Release --project bench/Tessera.Bench -- planner [runs=7]</c>.
/// </summary>
internal static class PlannerBench
{
    public static void Run(string[] args)
    {
        var runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
        var models = new[]
        {
            ModelProfile.Uniform("70b-q8", 80, 1_000_000_000, hiddenSize: 8192, kvWidth: 1024, vocabSize: 128000, embeddingBytes: 1_000_000_000, headBytes: 1_000_000_000),
            ModelProfile.Uniform("405b-q8", 126, 3_200_000_000, hiddenSize: 16384, kvWidth: 2048, vocabSize: 128000, embeddingBytes: 2_000_000_000, headBytes: 2_000_000_000),
        };
        Console.WriteLine($"runs {runs}, median wall ms; {Environment.ProcessorCount} cores");
        Console.WriteLine("| devices | model | replicas | median ms | min ms | max ms | plan |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var devices in new[] { 1000, 3000, 10000 })
        {
            var cluster = SyntheticPool.Generate(devices, seed: 7);
            foreach (var model in models)
            {
                foreach (var replicas in new[] { "1", "4", "auto", "1 --explain" })
                {
                    var request = new PlanRequest
                    {
                        Model = model,
                        ContextLength = 4096,
                        MaxSessions = 4,
                        Replicas = replicas == "4" ? 4 : 1,
                        AutoReplicas = replicas == "auto",
                        Explain = replicas.EndsWith("--explain", StringComparison.Ordinal),
                    };
                    var result = PoolPlanner.Plan(request, cluster); // warm-up: JIT, and the pool's link index
                    var times = new double[runs];
                    for (var r = 0; r < runs; r++)
                    {
                        var start = Stopwatch.GetTimestamp();
                        result = PoolPlanner.Plan(request, cluster);
                        times[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    }
                    Array.Sort(times);
                    var shape = result.Succeeded
                        ? $"{result.Plan.Pipelines.Count} x {result.Plan.Pipelines[0].Stages.Count} stages, {result.Plan.MaxThroughputTokensPerSecond:0} tok/s saturated, {result.Plan.SingleStreamTokensPerSecond:0.0} single"
                        : "does not fit";
                    Console.WriteLine(FormattableString.Invariant($"| {devices} | {model.Name} | {replicas} | {times[runs / 2]:0.0} | {times[0]:0.0} | {times[^1]:0.0} | {shape} |"));
                }
            }
        }
    }
}
