namespace Tessera.Jinja;

/// <summary>
/// Rendering was stopped because it exceeded one of the <see cref="JinjaRenderLimits"/>
/// (output size, loop iterations, call depth). A template that hits one is almost always
/// broken or hostile; raise the limit only if the output is legitimately that large.
/// </summary>
public sealed class TemplateLimitExceededException : TemplateException
{
    public TemplateLimitExceededException(string limitName, long limit, string detail)
        : base($"Chat template exceeded {limitName} ({limit}): {detail}")
    {
        LimitName = limitName;
        Limit = limit;
    }

    /// <summary>The name of the <see cref="JinjaRenderLimits"/> property that was exceeded.</summary>
    public string LimitName { get; }

    /// <summary>The value of that limit.</summary>
    public long Limit { get; }
}
