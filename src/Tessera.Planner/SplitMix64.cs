namespace Tessera.Planner;

/// <summary>
/// SplitMix64: a tiny generator whose sequence is fixed by its seed on every runtime (unlike <see cref="Random"/>,
/// whose algorithm may change), so synthetic and simulated pools and sampled latencies are the same on every machine,
/// byte for byte.
/// </summary>
public struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, <paramref name="bound"/>).</summary>
    public ulong Next(ulong bound) => Next() % bound;

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Exponential with the given mean.</summary>
    public double NextExponential(double mean) => -mean * Math.Log(1 - NextDouble());

    /// <summary>A generator for stream <paramref name="stream"/> of <paramref name="seed"/>: independent streams, e.g. one per machine.</summary>
    public static SplitMix64 ForStream(int seed, int stream) => new(((ulong)(uint)seed << 32) ^ (ulong)(uint)stream ^ 0x5DEECE66DUL);
}
