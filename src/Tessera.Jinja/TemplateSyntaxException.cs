namespace Tessera.Jinja;

/// <summary>The template source is not valid Jinja (or uses a feature this interpreter does not support).</summary>
public sealed class TemplateSyntaxException : TemplateException
{
    public TemplateSyntaxException(string detail, int line, int column)
        : base($"Chat template syntax error{Where(line, column)}: {detail}", line, column)
    {
        Detail = detail;
    }

    /// <summary>What was wrong and what was expected, without the position.</summary>
    public string Detail { get; }
}
