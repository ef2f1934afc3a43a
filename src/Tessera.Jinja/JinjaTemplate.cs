
namespace Tessera.Jinja;

/// <summary>
/// A parsed Jinja template: the subset of Jinja2 that chat templates use (see docs/chat-templates.md).
/// Parse once, render many times; rendering is thread-safe.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Statement> _body;

    private JinjaTemplate(IReadOnlyList<Statement> body)
    {
        _body = body;
    }

    /// <summary>Parses with Jinja's default whitespace handling (<see cref="JinjaSyntaxOptions.Default"/>).</summary>
    /// <exception cref="TemplateSyntaxException">The source is not valid, naming line, column and what was expected.</exception>
    public static JinjaTemplate Parse(string source) => Parse(source, JinjaSyntaxOptions.Default);

    /// <exception cref="TemplateSyntaxException">The source is not valid, naming line, column and what was expected.</exception>
    public static JinjaTemplate Parse(string source, JinjaSyntaxOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        return new JinjaTemplate(Parser.Parse(Lexer.Tokenize(source, options)));
    }

    /// <summary>
    /// Renders with the given variables: .NET string, integer and floating types, bool, null,
    /// lists (any <see cref="System.Collections.IEnumerable"/>), dictionaries with string keys,
    /// <see cref="System.Text.Json.JsonElement"/>, and records (their properties in snake_case: <c>Role</c> is <c>role</c>).
    /// </summary>
    /// <exception cref="TemplateException">Rendering failed; the derived type says why.</exception>
    public string Render(IDictionary<string, object?> variables) => Render(variables, JinjaRenderOptions.Default);

    /// <exception cref="TemplateException">Rendering failed; the derived type says why.</exception>
    public string Render(IEnumerable<KeyValuePair<string, object?>> variables, JinjaRenderOptions options)
    {
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(options);
        return TemplateRenderer.Render(_body, variables, options);
    }
}
