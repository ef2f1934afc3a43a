namespace Tessera.Planner.Internal;

/// <summary>
/// SplitMix64: a tiny generator whose sequence is fixed by its seed on every runtime (unlike <see cref="Random"/>,
/// whose algorithm may change), so synthetic pools and sampled latencies are the same on every machine.
/// </summary>
internal struct SplitMix(ulong seed)
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
}
