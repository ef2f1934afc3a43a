using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Tessera.Jinja;

/// <summary>Turns .NET values handed to a render into template values (see <see cref="JinjaValues"/>).</summary>
internal static class ValueConverter
{
    public static object? FromDotNet(object? value, string path) => value switch
    {
        null => null,
        string or long or double or bool => value,
        int i => (long)i,
        short s => (long)s,
        byte b => (long)b,
        sbyte sb => (long)sb,
        uint ui => (long)ui,
        ushort us => (long)us,
        ulong ul => ul <= long.MaxValue ? (object)(long)ul : (double)ul,
        float f => (double)f,
        decimal m => (double)m,
        char c => c.ToString(),
        Enum e => e.ToString(),
        JinjaUndefined or JinjaNamespace or IJinjaCallable => value,
        JsonElement json => FromJson(json),
        IDictionary<string, object?> dict => dict.ToDictionary(e => e.Key, e => FromDotNet(e.Value, $"{path}.{e.Key}"), StringComparer.Ordinal),
        IReadOnlyDictionary<string, object?> dict => dict.ToDictionary(e => e.Key, e => FromDotNet(e.Value, $"{path}.{e.Key}"), StringComparer.Ordinal),
        IDictionary dict => FromDictionary(dict, path),
        IEnumerable items => FromSequence(items, path),
        _ when IsRecord(value.GetType()) => FromRecord(value, path),
        _ => throw new ArgumentException(
            $"Template variable '{path}' has type {value.GetType().FullName}, which templates cannot use; pass a string, number, bool, null, list, dictionary, record or JsonElement.",
            nameof(value)),
    };

    private static readonly ConcurrentDictionary<Type, (string Name, PropertyInfo Property)[]> RecordProperties = new();

    /// <summary>A record class is data: the compiler gives it a clone method.</summary>
    private static bool IsRecord(Type type) => type.IsClass && type.GetMethod("<Clone>$", BindingFlags.Public | BindingFlags.Instance) is not null;

    /// <summary>A record's public properties, named as Python names them: <c>ToolCallId</c> is <c>tool_call_id</c>.</summary>
    private static Dictionary<string, object?> FromRecord(object value, string path)
    {
        var properties = RecordProperties.GetOrAdd(value.GetType(), static type => type
            .GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract")
            .Select(p => (SnakeCase(p.Name), p))
            .ToArray());
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, property) in properties)
            result[name] = FromDotNet(property.GetValue(value), $"{path}.{name}");
        return result;
    }

    private static string SnakeCase(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
                text.Append('_');
            text.Append(char.ToLowerInvariant(name[i]));
        }
        return text.ToString();
    }

    private static Dictionary<string, object?> FromDictionary(IDictionary dict, string path)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in dict)
        {
            var key = Convert.ToString(entry.Key, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            result[key] = FromDotNet(entry.Value, $"{path}.{key}");
        }
        return result;
    }

    private static List<object?> FromSequence(IEnumerable items, string path)
    {
        var result = new List<object?>();
        foreach (var item in items)
            result.Add(FromDotNet(item, $"{path}[{result.Count}]"));
        return result;
    }

    private static object? FromJson(JsonElement json) => json.ValueKind switch
    {
        JsonValueKind.Object => FromJsonObject(json),
        JsonValueKind.Array => json.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => json.GetString(),
        JsonValueKind.Number => json.TryGetInt64(out var l) ? (object)l : json.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private static Dictionary<string, object?> FromJsonObject(JsonElement json)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in json.EnumerateObject())
            result[property.Name] = FromJson(property.Value);
        return result;
    }
}
