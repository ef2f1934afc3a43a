namespace Tessera.Jinja;

/// <summary>
/// Base of every error raised while parsing or rendering a chat template. Catch this to handle
/// them all; the derived types say which kind it was. <see cref="Line"/> and <see cref="Column"/>
/// locate the error in the template source (1-based) when it is known.
/// </summary>
public class TemplateException : Exception
{
    public TemplateException(string message, int? line = null, int? column = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Line = line;
        Column = column;
    }

    /// <summary>1-based line in the template source, when known.</summary>
    public int? Line { get; }

    /// <summary>1-based column in the template source, when known.</summary>
    public int? Column { get; }

    /// <summary>" at line L, column C" or an empty string when the position is unknown.</summary>
    protected static string Where(int? line, int? column) =>
        line is { } l && column is { } c ? $" at line {l}, column {c}" : "";
}
