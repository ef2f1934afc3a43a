namespace Tessera.Jinja;

/// <summary>What a render may use from outside the template: a clock and limits.</summary>
public sealed record JinjaRenderOptions
{
    public static JinjaRenderOptions Default { get; } = new();

    /// <summary>The clock behind <c>strftime_now(format)</c>; local time of this provider is used, as Python's <c>datetime.now()</c>.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public JinjaRenderLimits Limits { get; init; } = JinjaRenderLimits.Default;
}
