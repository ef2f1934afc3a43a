namespace Tessera.Jinja;

/// <summary>
/// An error from a value operation, thrown without a position; the renderer catches it at the
/// innermost expression and rethrows it as a <see cref="TemplateRenderException"/> with the position.
/// </summary>
internal sealed class JinjaRuntimeError(string message) : Exception(message);
