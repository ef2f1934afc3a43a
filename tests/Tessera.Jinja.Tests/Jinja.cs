using Tessera.Jinja;

namespace Tessera.Jinja.Tests;

/// <summary>Shorthand for rendering a template source with a few variables.</summary>
internal static class Jinja
{
    public static string Render(string source, params (string Name, object? Value)[] variables) =>
        JinjaTemplate.Parse(source).Render(variables.ToDictionary(v => v.Name, v => v.Value));

    public static string RenderHf(string source, params (string Name, object? Value)[] variables) =>
        JinjaTemplate.Parse(source, JinjaSyntaxOptions.HuggingFace).Render(variables.ToDictionary(v => v.Name, v => v.Value));
}
