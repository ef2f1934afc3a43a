namespace Tessera.Jinja;

/// <summary>Counts what one render spends against its <see cref="JinjaRenderLimits"/>.</summary>
internal sealed class RenderBudget(JinjaRenderLimits limits)
{
    private long _iterations;

    public JinjaRenderLimits Limits { get; } = limits;

    public int CallDepth { get; set; }

    public void ChargeIteration()
    {
        if (++_iterations > Limits.MaxLoopIterations)
            throw new TemplateLimitExceededException(nameof(JinjaRenderLimits.MaxLoopIterations), Limits.MaxLoopIterations, "too many loop iterations; does the template loop over a huge range?");
    }

    public void CheckLength(long length, string what)
    {
        if (length > Limits.MaxOutputLength)
            throw new TemplateLimitExceededException(nameof(JinjaRenderLimits.MaxOutputLength), Limits.MaxOutputLength, $"{what} grew to {length} characters or items");
    }

    public void CheckCount(long count, string what)
    {
        if (count > Limits.MaxLoopIterations)
            throw new TemplateLimitExceededException(nameof(JinjaRenderLimits.MaxLoopIterations), Limits.MaxLoopIterations, $"{what} would have {count} items");
    }
}
