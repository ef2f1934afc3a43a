namespace Tessera.Jinja;

/// <summary>
/// Rendering failed on a value: an operation on an undefined variable, a type mismatch
/// (adding a string to none), a bad argument to a filter.
/// </summary>
public sealed class TemplateRenderException : TemplateException
{
    public TemplateRenderException(string detail, int? line, int? column)
        : base($"Chat template error{Where(line, column)}: {detail}", line, column)
    {
        Detail = detail;
    }

    /// <summary>What went wrong, without the position.</summary>
    public string Detail { get; }
}
