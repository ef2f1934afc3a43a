namespace Tessera.Jinja;

/// <summary>A value the template can call: a global function, a macro, a bound method.</summary>
internal interface IJinjaCallable
{
    string Name { get; }

    object? Invoke(CallArguments arguments, TemplateRenderer renderer, SourcePosition at);
}

/// <summary>A built-in function such as <c>range</c> or <c>raise_exception</c>.</summary>
internal sealed class BuiltinFunction(string name, Func<CallArguments, TemplateRenderer, SourcePosition, object?> body) : IJinjaCallable
{
    public string Name { get; } = name;

    public object? Invoke(CallArguments arguments, TemplateRenderer renderer, SourcePosition at) => body(arguments, renderer, at);
}

/// <summary>A method of a value taken without calling it (<c>x.items</c>); calling it runs the method.</summary>
internal sealed class BoundMethod(object? target, string name) : IJinjaCallable
{
    public string Name { get; } = name;

    public object? Invoke(CallArguments arguments, TemplateRenderer renderer, SourcePosition at) =>
        BuiltinMethods.TryInvoke(target, Name, arguments, renderer, out var result)
            ? result
            : throw new JinjaRuntimeError($"'{JinjaValues.TypeName(target)}' object has no method '{Name}'");
}

/// <summary>A <c>{% macro %}</c> with the scope it was defined in.</summary>
internal sealed class Macro(MacroStatement definition, Scope closure) : IJinjaCallable
{
    public string Name => definition.Name;

    public object? Invoke(CallArguments arguments, TemplateRenderer renderer, SourcePosition at) =>
        renderer.CallMacro(definition, closure, arguments);
}
