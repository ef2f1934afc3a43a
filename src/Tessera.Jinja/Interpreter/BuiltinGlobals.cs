namespace Tessera.Jinja;

/// <summary>Functions every template can call: <c>range</c>, <c>namespace</c>, <c>dict</c>, <c>raise_exception</c>, <c>strftime_now</c>.</summary>
internal static class BuiltinGlobals
{
    public static void Install(Scope scope)
    {
        Add(scope, "range", Range);
        Add(scope, "namespace", Namespace);
        Add(scope, "dict", (args, _, _) => new Dictionary<string, object?>(args.Keyword, StringComparer.Ordinal));
        Add(scope, "raise_exception", RaiseException);
        Add(scope, "strftime_now", (args, renderer, _) =>
            Strftime.Format(renderer.Clock.GetLocalNow(), JinjaValues.ToText(args.Require(0, "format", "strftime_now"))));
    }

    private static void Add(Scope scope, string name, Func<CallArguments, TemplateRenderer, SourcePosition, object?> body) =>
        scope.Set(name, new BuiltinFunction(name, body));

    private static object? Range(CallArguments args, TemplateRenderer renderer, SourcePosition at)
    {
        var numbers = args.Positional.Select(JinjaValues.ToLong).ToList();
        var (start, stop, step) = numbers.Count switch
        {
            1 => (0L, numbers[0], 1L),
            2 => (numbers[0], numbers[1], 1L),
            3 => (numbers[0], numbers[1], numbers[2]),
            _ => throw new JinjaRuntimeError("range() takes 1 to 3 integer arguments"),
        };
        if (step == 0)
            throw new JinjaRuntimeError("range() step must not be zero");
        var count = step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step;
        count = Math.Max(0, count);
        renderer.Budget.CheckCount(count, "range()");
        var result = new List<object?>((int)count);
        for (var i = 0L; i < count; i++)
            result.Add(start + i * step);
        return result;
    }

    private static object? Namespace(CallArguments args, TemplateRenderer renderer, SourcePosition at)
    {
        var ns = new JinjaNamespace();
        foreach (var positional in args.Positional)
        {
            if (positional is not Dictionary<string, object?> initial)
                throw new JinjaRuntimeError("namespace() takes keyword arguments or a dict");
            foreach (var (key, value) in initial)
                ns.Attributes[key] = value;
        }
        foreach (var (key, value) in args.Keyword)
            ns.Attributes[key] = value;
        return ns;
    }

    private static object? RaiseException(CallArguments args, TemplateRenderer renderer, SourcePosition at) =>
        throw new TemplateRaisedException(JinjaValues.ToText(args.Get(0, "message", "raise_exception() was called")), at.Line, at.Column);
}
