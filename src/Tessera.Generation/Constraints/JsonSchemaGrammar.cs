using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Tessera.Generation.Constraints;

/// <summary>
/// Writes a JSON schema as GBNF rules, so that decoding constrained by them can only produce JSON the schema accepts.
/// <para>
/// Supported, as OpenAI's structured outputs list them: <c>type</c> (one or a list), <c>properties</c> with
/// <c>required</c> (properties come in the schema's order; optional ones may be left out), <c>additionalProperties</c>
/// (a schema or true for an object without <c>properties</c>; otherwise only the declared properties are written),
/// <c>items</c>, <c>minItems</c>, <c>maxItems</c>, <c>enum</c>, <c>const</c>, <c>anyOf</c>, <c>oneOf</c>, one-schema
/// <c>allOf</c>, <c>$ref</c> into <c>$defs</c> or <c>definitions</c> (recursion included), <c>minLength</c>,
/// <c>maxLength</c>, integer <c>minimum</c>/<c>maximum</c>/<c>exclusiveMinimum</c>/<c>exclusiveMaximum</c>, and the string
/// formats <c>date</c>, <c>time</c>, <c>date-time</c>, <c>uuid</c>, <c>email</c> and <c>ipv4</c>. Annotations
/// (<c>title</c>, <c>description</c>, <c>default</c>, <c>examples</c>, ...) are ignored.
/// </para>
/// Anything else (a <c>pattern</c>, bounds on non-integer numbers, <c>not</c>, ...) is refused with
/// <see cref="UnsupportedSchemaException"/> naming it, or, with <see cref="SchemaStrictness.Lenient"/>, ignored (the
/// output is then valid JSON of the right shape that may break that one rule).
/// </summary>
public sealed class JsonSchemaGrammar
{
    /// <summary>Whitespace a model may put between tokens of JSON: none, a space, or a line break and some indentation.</summary>
    private const string Whitespace = "| \" \" | \"\\n\" [ \\t]{0,20}";

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly",
        "$defs", "definitions", "nullable", "strict", "name",
    };

    private static readonly HashSet<string> Understood = new(StringComparer.Ordinal)
    {
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "anyOf",
        "oneOf", "allOf", "$ref", "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    };

    private readonly string _prefix;
    private readonly SchemaStrictness _strictness;
    private readonly JsonElement _root;
    private readonly StringBuilder _rules = new();
    private readonly HashSet<string> _defined = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _refs = new(StringComparer.Ordinal);
    private int _counter;

    private JsonSchemaGrammar(JsonElement root, string prefix, SchemaStrictness strictness)
    {
        _root = root;
        _prefix = prefix;
        _strictness = strictness;
    }

    /// <summary>A whole grammar (rule <c>root</c>) for output that is one JSON value <paramref name="schema"/> accepts.</summary>
    /// <exception cref="UnsupportedSchemaException">The schema uses a feature that cannot be enforced (strict only).</exception>
    public static string ForSchema(JsonElement schema, SchemaStrictness strictness = SchemaStrictness.Strict) =>
        "root ::= " + RulesFor(schema, "schema", strictness, out var rules) + "\n" + rules;

    /// <summary>A whole grammar for output that is any JSON object (OpenAI's <c>json_object</c> format).</summary>
    public static string AnyObject()
    {
        var g = new JsonSchemaGrammar(default, "json", SchemaStrictness.Strict);
        return "root ::= " + g.Primitive("object") + "\n" + g._rules;
    }

    /// <summary>
    /// Rules for <paramref name="schema"/> whose names all start with <paramref name="prefix"/>, for composing into a
    /// larger grammar (a tool call's arguments inside the model's call syntax): returns the rule name that matches one
    /// value, with the definitions in <paramref name="rules"/>.
    /// </summary>
    public static string RulesFor(JsonElement schema, string prefix, SchemaStrictness strictness, out string rules)
    {
        if (string.IsNullOrEmpty(prefix) || !prefix.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            throw new ArgumentException("A rule prefix is letters, digits and '-'.", nameof(prefix));
        var g = new JsonSchemaGrammar(schema, prefix, strictness);
        var top = g.Schema(schema, "$");
        rules = g._rules.ToString();
        return top;
    }

    /// <summary>A JSON string literal as a GBNF string: <c>"a"</c> becomes <c>"\"a\""</c>.</summary>
    public static string Literal(string text)
    {
        var b = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x7F)
                        b.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                    else
                        b.Append(c);
                    break;
            }
        }
        return b.Append('"').ToString();
    }

    /// <summary>The compact JSON text of <paramref name="value"/> as a GBNF string.</summary>
    private static string JsonLiteral(JsonElement value) => Literal(CompactJson(value.WriteTo));

    /// <summary>What <paramref name="write"/> writes, as compact JSON text with non-ASCII characters kept as they are.</summary>
    private static string CompactJson(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(writer);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private string Schema(JsonElement s, string path)
    {
        if (s.ValueKind == JsonValueKind.True)
            return Primitive("value");
        if (s.ValueKind == JsonValueKind.False)
            throw new UnsupportedSchemaException(path, "the schema 'false' accepts nothing, so no output could satisfy it");
        if (s.ValueKind != JsonValueKind.Object)
            throw new UnsupportedSchemaException(path, $"a schema must be an object or a boolean, not {s.ValueKind.ToString().ToLowerInvariant()}");
        CheckKeywords(s, path);

        if (s.TryGetProperty("$ref", out var reference))
            return Reference(reference, path);
        if (s.TryGetProperty("const", out var constant))
            return Define("const", JsonLiteral(constant));
        if (s.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
                throw new UnsupportedSchemaException(path + ".enum", "enum must be a non-empty array");
            return Define("enum", string.Join(" | ", values.EnumerateArray().Select(JsonLiteral)));
        }
        foreach (var keyword in (ReadOnlySpan<string>)["anyOf", "oneOf"])
        {
            if (s.TryGetProperty(keyword, out var options))
            {
                if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0)
                    throw new UnsupportedSchemaException($"{path}.{keyword}", $"{keyword} must be a non-empty array of schemas");
                var names = options.EnumerateArray().Select((o, i) => Schema(o, $"{path}.{keyword}[{i}]")).ToList();
                return Define(keyword, string.Join(" | ", names));
            }
        }
        if (s.TryGetProperty("allOf", out var all))
        {
            if (all.ValueKind == JsonValueKind.Array && all.GetArrayLength() == 1)
                return Schema(all[0], path + ".allOf[0]");
            if (_strictness == SchemaStrictness.Strict)
                throw new UnsupportedSchemaException(path + ".allOf", "allOf with more than one schema is not supported; merge them into one");
        }

        if (!s.TryGetProperty("type", out var type))
        {
            if (s.TryGetProperty("properties", out _))
                return Object(s, path);
            if (s.TryGetProperty("items", out _))
                return Array(s, path);
            return Primitive("value");
        }
        if (type.ValueKind == JsonValueKind.Array)
        {
            var names = type.EnumerateArray().Select(t => Typed(s, TypeName(t, path), path)).ToList();
            if (names.Count == 0)
                throw new UnsupportedSchemaException(path + ".type", "type must name at least one type");
            return names.Count == 1 ? names[0] : Define("types", string.Join(" | ", names));
        }
        return Typed(s, TypeName(type, path), path);
    }

    private static string TypeName(JsonElement type, string path) =>
        type.ValueKind == JsonValueKind.String ? type.GetString()! : throw new UnsupportedSchemaException(path + ".type", "type must be a string or a list of strings");

    private string Typed(JsonElement s, string type, string path) => type switch
    {
        "object" => Object(s, path),
        "array" => Array(s, path),
        "string" => String(s, path),
        "integer" => Integer(s, path),
        "number" => Number(s, path),
        "boolean" => Primitive("boolean"),
        "null" => Primitive("null"),
        _ => throw new UnsupportedSchemaException(path + ".type", $"unknown type '{type}' (object, array, string, integer, number, boolean or null)"),
    };

    private void CheckKeywords(JsonElement s, string path)
    {
        if (_strictness != SchemaStrictness.Strict)
            return;
        foreach (var property in s.EnumerateObject())
        {
            if (!Understood.Contains(property.Name) && !Annotations.Contains(property.Name))
                throw new UnsupportedSchemaException($"{path}.{property.Name}", $"'{property.Name}' is not supported in a schema for constrained output");
        }
    }

    private string Reference(JsonElement reference, string path)
    {
        var target = reference.GetString() ?? "";
        if (_refs.TryGetValue(target, out var known))
            return known;
        string? name = null;
        JsonElement definition = default;
        foreach (var container in (ReadOnlySpan<string>)["#/$defs/", "#/definitions/"])
        {
            if (target.StartsWith(container, StringComparison.Ordinal)
                && _root.ValueKind == JsonValueKind.Object
                && _root.TryGetProperty(container[2..^1], out var defs)
                && defs.ValueKind == JsonValueKind.Object
                && defs.TryGetProperty(target[container.Length..], out definition))
                name = target[container.Length..];
        }
        if (name is null)
            throw new UnsupportedSchemaException(path + ".$ref", $"'{target}' does not name a schema under #/$defs/ or #/definitions/");
        // Name the rule before writing it, so a recursive schema refers back to it.
        var rule = $"{_prefix}-ref-{Sanitize(name)}-{_counter++}";
        _refs[target] = rule;
        AddRule(rule, Schema(definition, target));
        return rule;
    }

    private string Object(JsonElement s, string path)
    {
        var properties = new List<(string Name, string Rule, bool Required)>();
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (s.TryGetProperty("required", out var req) && req.ValueKind == JsonValueKind.Array)
        {
            foreach (var r in req.EnumerateArray())
            {
                if (r.ValueKind == JsonValueKind.String)
                    required.Add(r.GetString()!);
            }
        }
        if (s.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in props.EnumerateObject())
            {
                var value = Schema(p.Value, $"{path}.properties.{p.Name}");
                properties.Add((p.Name, Define("kv", $"{Literal(JsonLiteralText(p.Name))} {Primitive("ws")} \":\" {Primitive("ws")} {value} {Primitive("ws")}"), required.Contains(p.Name)));
            }
        }
        foreach (var name in required)
        {
            if (!properties.Any(p => p.Name == name))
                throw new UnsupportedSchemaException($"{path}.required", $"'{name}' is required but not among the properties");
        }

        var ws = Primitive("ws");
        if (properties.Count == 0)
        {
            var additional = s.TryGetProperty("additionalProperties", out var ap) ? ap : default;
            if (additional.ValueKind == JsonValueKind.False)
                return Define("object", $"\"{{\" {ws} \"}}\"");
            var value = additional.ValueKind is JsonValueKind.Object or JsonValueKind.True ? Schema(additional, path + ".additionalProperties") : Primitive("value");
            var member = Define("member", $"{Primitive("string")} {ws} \":\" {ws} {value} {ws}");
            return Define("object", $"\"{{\" {ws} ( {member} ( \",\" {ws} {member} )* )? \"}}\"");
        }

        // Properties in order, optional ones skippable, commas only between the ones written:
        // first_i has written none yet, rest_i has written at least one.
        var n = properties.Count;
        var first = new string[n + 1];
        var rest = new string[n + 1];
        for (var i = n; i >= 0; i--)
        {
            if (i == n)
            {
                first[i] = rest[i] = "";
                continue;
            }
            var (_, kv, isRequired) = properties[i];
            var restNext = Named(rest[i + 1]);
            rest[i] = isRequired
                ? Define("rest", $"\",\" {ws} {kv} {restNext}")
                : Define("rest", $"\",\" {ws} {kv} {restNext} | {Named(rest[i + 1], empty: "\"\"")}");
            var firstNext = Named(first[i + 1]);
            first[i] = isRequired
                ? Define("first", $"{kv} {restNext}")
                : Define("first", $"{kv} {restNext} | {Named(first[i + 1], empty: "\"\"")}");
        }
        return Define("object", $"\"{{\" {ws} {first[0]} \"}}\"");
    }

    private static string Named(string rule, string empty = "") => rule.Length == 0 ? empty : rule;

    private static string JsonLiteralText(string name) => CompactJson(w => w.WriteStringValue(name));

    private string Array(JsonElement s, string path)
    {
        var item = s.TryGetProperty("items", out var items) ? Schema(items, path + ".items") : Primitive("value");
        var min = Count(s, "minItems", path) ?? 0;
        var max = Count(s, "maxItems", path);
        if (max < min)
            throw new UnsupportedSchemaException(path + ".maxItems", $"maxItems ({max}) is below minItems ({min})");
        var ws = Primitive("ws");
        var element = Define("item", $"{item} {ws}");
        if (max == 0)
            return Define("array", $"\"[\" {ws} \"]\"");
        var more = max is { } m ? $"{{{Math.Max(0, min - 1)},{m - 1}}}" : $"{{{Math.Max(0, min - 1)},}}";
        var body = $"{element} ( \",\" {ws} {element} ){more}";
        return Define("array", min == 0 ? $"\"[\" {ws} ( {body} )? \"]\"" : $"\"[\" {ws} {body} \"]\"");
    }

    private string String(JsonElement s, string path)
    {
        if (s.TryGetProperty("format", out var format))
        {
            var f = format.GetString();
            var body = f switch
            {
                "date" => Date(),
                "time" => Time(),
                "date-time" => $"{Date()} \"T\" {Time()}",
                "uuid" => "[0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{12}",
                "email" => "[a-zA-Z0-9._%+-]{1,64} \"@\" [a-zA-Z0-9-]{1,63} ( \".\" [a-zA-Z0-9-]{1,63} ){0,8} \".\" [a-zA-Z]{2,24}",
                "ipv4" => "octet \".\" octet \".\" octet \".\" octet".Replace("octet", Define("octet", "\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9]? [0-9]"), StringComparison.Ordinal),
                _ => null,
            };
            if (body is not null)
                return Define("format", $"\"\\\"\" {body} \"\\\"\"");
            if (_strictness == SchemaStrictness.Strict)
                throw new UnsupportedSchemaException(path + ".format", $"string format '{f}' is not supported (date, time, date-time, uuid, email, ipv4 are)");
        }
        if (s.TryGetProperty("pattern", out _) && _strictness == SchemaStrictness.Strict)
            throw new UnsupportedSchemaException(path + ".pattern", "'pattern' is not supported in a schema for constrained output");
        var min = Count(s, "minLength", path) ?? 0;
        var max = Count(s, "maxLength", path);
        if (min == 0 && max is null)
            return Primitive("string");
        if (max < min)
            throw new UnsupportedSchemaException(path + ".maxLength", $"maxLength ({max}) is below minLength ({min})");
        var repeat = max is { } m ? $"{{{min},{m}}}" : $"{{{min},}}";
        return Define("string", $"\"\\\"\" {Primitive("char")}{repeat} \"\\\"\"");
    }

    private static string Date() => "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [1-2] [0-9] | \"3\" [0-1] )";

    private static string Time() =>
        "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? ( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )";

    private int? Count(JsonElement s, string keyword, string path)
    {
        if (!s.TryGetProperty(keyword, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n) || n < 0)
            throw new UnsupportedSchemaException($"{path}.{keyword}", $"{keyword} must be a non-negative integer");
        if (n > Gbnf.MaxRepetition)
            throw new UnsupportedSchemaException($"{path}.{keyword}", $"{keyword} above {Gbnf.MaxRepetition} is not supported");
        return n;
    }

    private string Number(JsonElement s, string path)
    {
        if (_strictness == SchemaStrictness.Strict)
        {
            foreach (var keyword in (ReadOnlySpan<string>)["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"])
            {
                if (s.TryGetProperty(keyword, out _))
                    throw new UnsupportedSchemaException($"{path}.{keyword}", $"'{keyword}' is supported on integers, not on numbers with fractions; use type integer or drop the bound");
            }
        }
        return Primitive("number");
    }

    private string Integer(JsonElement s, string path)
    {
        long? lo = null, hi = null;
        if (Bound(s, "minimum", path) is { } min)
            lo = (long)Math.Ceiling(min);
        if (Bound(s, "exclusiveMinimum", path) is { } xmin)
            lo = Math.Max(lo ?? long.MinValue, (long)Math.Floor(xmin) + 1);
        if (Bound(s, "maximum", path) is { } max)
            hi = (long)Math.Floor(max);
        if (Bound(s, "exclusiveMaximum", path) is { } xmax)
            hi = Math.Min(hi ?? long.MaxValue, (long)Math.Ceiling(xmax) - 1);
        if (lo is null && hi is null)
            return Primitive("integer");
        if (lo > hi)
            throw new UnsupportedSchemaException(path, $"no integer lies between the minimum ({lo}) and the maximum ({hi})");
        return Define("int-range", IntegerRange.Grammar(lo, hi));
    }

    private static double? Bound(JsonElement s, string keyword, string path)
    {
        if (!s.TryGetProperty(keyword, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || Math.Abs(d) > IntegerRange.Largest)
            throw new UnsupportedSchemaException($"{path}.{keyword}", $"{keyword} must be a number no larger than {IntegerRange.Largest} in magnitude");
        return d;
    }

    /// <summary>The rule for one of the JSON primitives, written once per grammar.</summary>
    private string Primitive(string kind)
    {
        var name = $"{_prefix}-{kind}";
        if (_defined.Contains(name))
            return name;
        _defined.Add(name);
        var ws = $"{_prefix}-ws";
        var body = kind switch
        {
            "ws" => Whitespace,
            "char" => "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )",
            "string" => $"\"\\\"\" {Primitive("char")}* \"\\\"\"",
            "integer" => "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} )",
            "number" => $"{Primitive("integer")} ( \".\" [0-9]{{1,16}} )? ( [eE] [-+]? [0-9]{{1,3}} )?",
            "boolean" => "\"true\" | \"false\"",
            "null" => "\"null\"",
            "value" => $"{Primitive("object")} | {Primitive("array")} | {Primitive("string")} | {Primitive("number")} | {Primitive("boolean")} | {Primitive("null")}",
            "object" => $"\"{{\" {ws} ( {Primitive("string")} {ws} \":\" {ws} {Primitive("value")} {ws} ( \",\" {ws} {Primitive("string")} {ws} \":\" {ws} {Primitive("value")} {ws} )* )? \"}}\"",
            "array" => $"\"[\" {ws} ( {Primitive("value")} {ws} ( \",\" {ws} {Primitive("value")} {ws} )* )? \"]\"",
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        if (kind is not "value" and not "object" and not "array")
            Primitive("ws");
        AddRule(name, body);
        return name;
    }

    private string Define(string kind, string body)
    {
        var name = $"{_prefix}-{kind}-{_counter++}";
        AddRule(name, body);
        return name;
    }

    private void AddRule(string name, string body) => _rules.Append(name).Append(" ::= ").Append(body).Append('\n');

    private static string Sanitize(string name)
    {
        var b = new StringBuilder();
        foreach (var c in name)
            b.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        return b.Length == 0 ? "x" : b.ToString();
    }
}

/// <summary>What to do with schema keywords decoding cannot enforce.</summary>
public enum SchemaStrictness
{
    /// <summary>Refuse them (structured output: the caller asked for exactly this schema).</summary>
    Strict,

    /// <summary>Ignore them: the output has the schema's shape and may break those rules (a tool's non-strict parameters).</summary>
    Lenient,
}

/// <summary>A schema feature constrained decoding cannot enforce; <see cref="Path"/> says where it is.</summary>
public sealed class UnsupportedSchemaException(string path, string reason)
    : Exception($"{reason} (at {path}).")
{
    /// <summary>Where in the schema, as <c>$.properties.name.pattern</c>.</summary>
    public string Path { get; } = path;
}
