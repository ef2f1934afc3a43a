namespace Tessera.Training;

/// <summary>
/// The inner optimizer's learning rate by step: linear warm-up from 0 over <see cref="WarmupSteps"/>, then a cosine
/// decay to <see cref="MinimumFraction"/> of the peak at <see cref="TotalSteps"/> (the schedule the DiLoCo paper's
/// inner AdamW uses); constant at the minimum after that.
/// </summary>
public sealed record LearningRateSchedule(float Peak, int WarmupSteps, int TotalSteps, float MinimumFraction = 0.1f)
{
    /// <summary>The rate for step <paramref name="step"/> (0-based).</summary>
    public float At(long step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        var span = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Min(1.0, (double)(step - WarmupSteps) / span);
        var cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return (float)(Peak * (MinimumFraction + (1 - MinimumFraction) * cosine));
    }
}
