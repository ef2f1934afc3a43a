namespace Tessera.Serving;

/// <summary>
/// The <see cref="StallDetector"/>'s deadline: <c>max(Floor, Multiplier × max(p99 step, p99 per position × positions in flight))</c>.
/// The defaults declare a stall of a pipeline stepping every 10-50 ms after 0.5 s of silence, and one stepping every
/// 150 ms after 1.5 s, while a step must take ten times the slowest 1 % of the last 256 steps before it counts: a busy
/// machine whose steps jitter by 2-3x stays well inside.
/// </summary>
public sealed record StallDetectorOptions
{
    /// <summary>The shortest deadline, however fast the steps: below it a GC pause or a scheduling hiccup would count as a stall.</summary>
    public TimeSpan Floor { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How many times the measured p99 a step may take before it is a stall (the margin for jitter).</summary>
    public double Multiplier { get; init; } = 10;

    /// <summary>Steps remembered: the p99 is over these, so it follows a step time that grows with the context.</summary>
    public int Window { get; init; } = 256;

    /// <summary>Steps measured before any stall is declared.</summary>
    public int MinSamples { get; init; } = 8;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Floor, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(Multiplier, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Window, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MinSamples, 1);
    }
}
