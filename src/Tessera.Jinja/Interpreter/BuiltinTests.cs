namespace Tessera.Jinja;

/// <summary>Jinja's tests, used with <c>is</c> and by <c>select</c>, <c>selectattr</c> and friends.</summary>
internal static class BuiltinTests
{
    private delegate bool Test(object? value, CallArguments arguments);

    private static readonly Dictionary<string, Test> Tests = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, _) => v is not JinjaUndefined,
        ["undefined"] = (v, _) => v is JinjaUndefined,
        ["none"] = (v, _) => v is null,
        ["boolean"] = (v, _) => v is bool,
        ["true"] = (v, _) => v is true,
        ["false"] = (v, _) => v is false,
        ["string"] = (v, _) => v is string,
        ["number"] = (v, _) => v is long or double or bool,
        ["integer"] = (v, _) => v is long,
        ["float"] = (v, _) => v is double,
        ["mapping"] = (v, _) => v is Dictionary<string, object?>,
        ["sequence"] = (v, _) => v is string or List<object?> or object?[] or Dictionary<string, object?>,
        ["iterable"] = (v, _) => v is string or List<object?> or object?[] or Dictionary<string, object?> or JinjaUndefined,
        ["callable"] = (v, _) => v is IJinjaCallable,
        ["odd"] = (v, _) => JinjaValues.ToLong(v) % 2 != 0,
        ["even"] = (v, _) => JinjaValues.ToLong(v) % 2 == 0,
        ["divisibleby"] = (v, a) => DivisibleBy(v, a.Require(0, "num", "divisibleby")),
        ["lower"] = (v, _) => v is string s && s == s.ToLowerInvariant(),
        ["upper"] = (v, _) => v is string s && s == s.ToUpperInvariant(),
        ["escaped"] = (_, _) => false,
        ["sameas"] = (v, a) => SameAs(v, a.Require(0, "other", "sameas")),
        ["in"] = (v, a) => JinjaValues.Contains(a.Require(0, "seq", "in"), v),
        ["filter"] = (v, _) => v is string s && BuiltinFilters.IsKnown(s),
        ["test"] = (v, _) => v is string s && IsKnown(s),
        ["eq"] = Equal,
        ["equalto"] = Equal,
        ["=="] = Equal,
        ["ne"] = (v, a) => !Equal(v, a),
        ["!="] = (v, a) => !Equal(v, a),
        ["lt"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "lt")) < 0,
        ["lessthan"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "lessthan")) < 0,
        ["<"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "<")) < 0,
        ["le"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "le")) <= 0,
        ["<="] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "<=")) <= 0,
        ["gt"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "gt")) > 0,
        ["greaterthan"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "greaterthan")) > 0,
        [">"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", ">")) > 0,
        ["ge"] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", "ge")) >= 0,
        [">="] = (v, a) => JinjaValues.Compare(v, a.Require(0, "other", ">=")) >= 0,
    };

    public static bool IsKnown(string name) => Tests.ContainsKey(name);

    public static bool Apply(string name, object? value, CallArguments arguments) =>
        Tests.TryGetValue(name, out var test)
            ? test(value, arguments)
            : throw new JinjaRuntimeError($"unknown test '{name}'");

    private static bool Equal(object? value, CallArguments arguments) =>
        JinjaValues.AreEqual(value, arguments.Require(0, "other", "equalto"));

    private static bool DivisibleBy(object? value, object? divisor)
    {
        var d = JinjaValues.ToLong(divisor);
        return d != 0 ? JinjaValues.ToLong(value) % d == 0 : throw new JinjaRuntimeError("divisibleby(0) is undefined");
    }

    /// <summary>Python's <c>is</c>: identity, with none, booleans, integers and strings compared by value.</summary>
    private static bool SameAs(object? value, object? other) =>
        ReferenceEquals(value, other) || (value is null or bool or long or string && Equals(value, other));
}
