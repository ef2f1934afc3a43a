namespace Tessera.Planner.Simulation;

/// <summary>
/// A tiny seeded generator (SplitMix64). Ours rather than <see cref="Random"/> so that the same seed gives the same
/// pool, byte for byte, whatever the .NET version: that is what makes a simulation's output reproducible.
/// </summary>
internal struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Exponential with the given mean.</summary>
    public double NextExponential(double mean) => -mean * Math.Log(1 - NextDouble());

    /// <summary>A generator for stream <paramref name="stream"/> of <paramref name="seed"/>: independent streams per machine.</summary>
    public static SplitMix64 ForStream(int seed, int stream) => new(((ulong)(uint)seed << 32) ^ (ulong)(uint)stream ^ 0x5DEECE66DUL);
}
