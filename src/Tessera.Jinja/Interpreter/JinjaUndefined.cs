namespace Tessera.Jinja;

/// <summary>
/// Jinja's default <c>Undefined</c>: falsy, renders as "", iterates as empty, <c>is defined</c> is false.
/// Attribute and item access on it give another undefined; arithmetic on it is an error naming it.
/// </summary>
internal sealed class JinjaUndefined(string name)
{
    /// <summary>What was undefined, as the template spelled it (<c>message.tool_calls</c>).</summary>
    public string Name { get; } = name;

    public JinjaRuntimeError Error() => new($"'{Name}' is undefined");

    public override string ToString() => "";
}
