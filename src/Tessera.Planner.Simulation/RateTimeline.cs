namespace Tessera.Planner.Simulation;

/// <summary>
/// The tokens/s a system serves over the simulated day, piecewise constant: each change is recorded at the time it
/// happens (times never go back), and the tokens served are the area under it. Tokens lost are the area between the
/// starting rate and the rate whenever it is below: a repair that ends faster than the start (exo's ring without a
/// slow device) does not pay back the downtime before it.
/// </summary>
public sealed class RateTimeline
{
    private readonly double _reference;
    private double _since;
    private double _rate;

    public RateTimeline(double initialRate) => _rate = _reference = initialRate;

    /// <summary>Tokens the starting rate would have served, less those served, wherever the rate was lower.</summary>
    public double TokensLost { get; private set; }

    public double Rate => _rate;

    public double TokensServed { get; private set; }

    /// <summary>Seconds spent serving nothing.</summary>
    public double DownSeconds { get; private set; }

    /// <summary>From <paramref name="seconds"/> on, the system serves <paramref name="rate"/> tokens/s.</summary>
    public void Set(double seconds, double rate)
    {
        Advance(seconds);
        _rate = rate;
    }

    /// <summary>Closes the day at <paramref name="seconds"/>.</summary>
    public void Finish(double seconds) => Advance(seconds);

    private void Advance(double seconds)
    {
        if (seconds < _since)
            throw new InvalidOperationException($"The timeline is at {_since} s; a change at {seconds} s would go back in time.");
        var span = seconds - _since;
        TokensServed += _rate * span;
        if (_rate < _reference)
            TokensLost += (_reference - _rate) * span;
        if (_rate <= 0)
            DownSeconds += span;
        _since = seconds;
    }
}
