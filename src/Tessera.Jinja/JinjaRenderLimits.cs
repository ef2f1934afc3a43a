namespace Tessera.Jinja;

/// <summary>
/// Bounds on one render, so a broken or hostile template cannot hang the engine or exhaust memory.
/// Exceeding one raises <see cref="TemplateLimitExceededException"/>.
/// </summary>
public sealed record JinjaRenderLimits
{
    /// <summary>The defaults: generous for any real chat prompt.</summary>
    public static JinjaRenderLimits Default { get; } = new();

    /// <summary>Most characters in the output, and in any single string or list built while rendering.</summary>
    public int MaxOutputLength { get; init; } = 16 * 1024 * 1024;

    /// <summary>Most loop iterations over the whole render (all loops together), and the largest <c>range()</c>.</summary>
    public long MaxLoopIterations { get; init; } = 1_000_000;

    /// <summary>Deepest nesting of macro calls (bounds recursion).</summary>
    public int MaxCallDepth { get; init; } = 64;
}
