using System.Text;

namespace Tessera.Jinja;

/// <summary>
/// Walks a parsed template once with one set of variables. Holds the per-render state
/// (clock, budget); the syntax tree itself is immutable and shared between renders.
/// </summary>
internal sealed partial class TemplateRenderer
{
    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    private TemplateRenderer(JinjaRenderOptions options)
    {
        Clock = options.Clock;
        Budget = new RenderBudget(options.Limits);
    }

    public TimeProvider Clock { get; }

    public RenderBudget Budget { get; }

    public static string Render(IReadOnlyList<Statement> template, IEnumerable<KeyValuePair<string, object?>> variables, JinjaRenderOptions options)
    {
        var globals = new Scope(null);
        BuiltinGlobals.Install(globals);
        var root = new Scope(globals);
        foreach (var (name, value) in variables)
            root.Set(name, ValueConverter.FromDotNet(value, name));

        var renderer = new TemplateRenderer(options);
        var output = new StringBuilder();
        renderer.Execute(template, root, output);
        return output.ToString();
    }

    private Flow Execute(IReadOnlyList<Statement> body, Scope scope, StringBuilder output)
    {
        foreach (var statement in body)
        {
            var flow = ExecuteOne(statement, scope, output);
            if (flow != Flow.Normal)
                return flow;
        }
        return Flow.Normal;
    }

    private Flow ExecuteOne(Statement statement, Scope scope, StringBuilder output)
    {
        switch (statement)
        {
            case TextStatement text:
                Write(output, text.Text);
                return Flow.Normal;
            case OutputStatement print:
                Write(output, JinjaValues.ToText(Evaluate(print.Value, scope)));
                return Flow.Normal;
            case IfStatement conditional:
                foreach (var branch in conditional.Branches)
                {
                    if (JinjaValues.IsTruthy(Evaluate(branch.Test, scope)))
                        return Execute(branch.Body, scope, output);
                }
                return conditional.Else != null ? Execute(conditional.Else, scope, output) : Flow.Normal;
            case ForStatement loop:
                ExecuteFor(loop, scope, output);
                return Flow.Normal;
            case SetStatement set:
                Assign(set.Target, Evaluate(set.Value, scope), scope, set.Position);
                return Flow.Normal;
            case SetBlockStatement setBlock:
                Assign(setBlock.Target, RenderFiltered(setBlock.Body, setBlock.Filters, scope), scope, setBlock.Position);
                return Flow.Normal;
            case MacroStatement macro:
                scope.Set(macro.Name, new Macro(macro, scope));
                return Flow.Normal;
            case FilterBlockStatement filterBlock:
                Write(output, JinjaValues.ToText(RenderFiltered(filterBlock.Body, filterBlock.Filters, scope)));
                return Flow.Normal;
            case BlockStatement block:
                return Execute(block.Body, scope, output);
            case BreakStatement:
                return Flow.Break;
            case ContinueStatement:
                return Flow.Continue;
            default:
                throw new InvalidOperationException($"Unknown statement {statement.GetType().Name}");
        }
    }

    private void Write(StringBuilder output, string text)
    {
        output.Append(text);
        Budget.CheckLength(output.Length, "the output");
    }

    private object? RenderFiltered(IReadOnlyList<Statement> body, IReadOnlyList<FilterCall> filters, Scope scope)
    {
        var captured = new StringBuilder();
        Execute(body, scope, captured);
        object? value = captured.ToString();
        foreach (var filter in filters)
        {
            var arguments = EvaluateArguments(filter.Arguments, scope);
            value = WithPosition(filter.Position, () => BuiltinFilters.Apply(filter.Name, value, arguments, this));
        }
        return value;
    }

    private void ExecuteFor(ForStatement loop, Scope scope, StringBuilder output)
    {
        var iterable = Evaluate(loop.Iterable, scope);
        var items = WithPosition(loop.Iterable.Position, () => JinjaValues.Iterate(iterable));
        var loopScope = new Scope(scope);
        if (loop.Filter != null)
        {
            var kept = new List<object?>();
            foreach (var item in items)
            {
                Budget.ChargeIteration();
                Assign(loop.Target, item, loopScope, loop.Position);
                if (JinjaValues.IsTruthy(Evaluate(loop.Filter, loopScope)))
                    kept.Add(item);
            }
            items = kept;
        }
        else
        {
            items = items.ToList();
        }

        if (items.Count == 0)
        {
            if (loop.Else != null)
                Execute(loop.Else, scope, output);
            return;
        }

        var context = new LoopContext(items);
        loopScope.Set("loop", context);
        for (var i = 0; i < items.Count; i++)
        {
            Budget.ChargeIteration();
            context.Index0 = i;
            Assign(loop.Target, items[i], loopScope, loop.Position);
            if (Execute(loop.Body, loopScope, output) == Flow.Break)
                break;
        }
    }

    private void Assign(AssignTarget target, object? value, Scope scope, SourcePosition at)
    {
        switch (target)
        {
            case NameTarget name:
                scope.Set(name.Name, value);
                break;
            case NamespaceAttributeTarget attribute:
                if (!scope.TryGet(attribute.Namespace, out var ns) || ns is not JinjaNamespace jinjaNamespace)
                {
                    throw new TemplateRenderException(
                        $"cannot assign '{attribute.Namespace}.{attribute.Attribute}': '{attribute.Namespace}' is not a namespace; create it with {{% set {attribute.Namespace} = namespace() %}}",
                        at.Line, at.Column);
                }
                jinjaNamespace.Attributes[attribute.Attribute] = value;
                break;
            case TupleTarget tuple:
                var items = WithPosition(at, () => JinjaValues.Iterate(value));
                if (items.Count != tuple.Items.Count)
                {
                    throw new TemplateRenderException(
                        $"cannot unpack {items.Count} values into {tuple.Items.Count} names", at.Line, at.Column);
                }
                for (var i = 0; i < items.Count; i++)
                    Assign(tuple.Items[i], items[i], scope, at);
                break;
        }
    }

    internal object? CallMacro(MacroStatement definition, Scope closure, CallArguments arguments)
    {
        if (++Budget.CallDepth > Budget.Limits.MaxCallDepth)
        {
            throw new TemplateLimitExceededException(nameof(JinjaRenderLimits.MaxCallDepth), Budget.Limits.MaxCallDepth,
                $"macro '{definition.Name}' nested too deeply; does it call itself without end?");
        }
        try
        {
            var scope = new Scope(closure);
            var parameters = definition.Parameters;
            for (var i = 0; i < parameters.Count; i++)
            {
                var parameter = parameters[i];
                object? value;
                if (i < arguments.Positional.Count)
                    value = arguments.Positional[i];
                else if (arguments.Keyword.TryGetValue(parameter.Name, out var named))
                    value = named;
                else if (parameter.Default != null)
                    value = Evaluate(parameter.Default, scope);
                else
                    value = new JinjaUndefined(parameter.Name);
                scope.Set(parameter.Name, value);
            }
            scope.Set("varargs", arguments.Positional.Skip(parameters.Count).ToList());
            scope.Set("kwargs", arguments.Keyword
                .Where(k => parameters.All(p => p.Name != k.Key))
                .ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal));
            var output = new StringBuilder();
            Execute(definition.Body, scope, output);
            return output.ToString();
        }
        finally
        {
            Budget.CallDepth--;
        }
    }

    private static T WithPosition<T>(SourcePosition at, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (JinjaRuntimeError error)
        {
            throw new TemplateRenderException(error.Message, at.Line, at.Column);
        }
    }
}
