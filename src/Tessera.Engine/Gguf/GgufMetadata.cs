using System.Globalization;

namespace Tessera.Engine.Gguf;

/// <summary>
/// The key/value metadata of a GGUF file, in file order. Values are .NET values: byte, sbyte, ushort, short,
/// uint, int, float, bool, string, ulong, long, double, or <see cref="GgufArray"/>.
/// Getters for required keys throw <see cref="GgufFormatException"/> naming the file and the key.
/// </summary>
public sealed class GgufMetadata
{
    private readonly Dictionary<string, object> _values = new(StringComparer.Ordinal);
    private readonly List<string> _keys = new();
    private readonly Dictionary<string, GgufValueType> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _offsets = new(StringComparer.Ordinal);

    internal GgufMetadata(string path) => FilePath = path;

    /// <summary>The file the metadata came from (for error messages).</summary>
    public string FilePath { get; }

    /// <summary>Keys in file order.</summary>
    public IReadOnlyList<string> Keys => _keys;

    public int Count => _keys.Count;

    internal bool TryAdd(string key, GgufValueType type, object value, long valueOffset = -1)
    {
        if (!_values.TryAdd(key, value))
            return false;
        _keys.Add(key);
        _types[key] = type;
        _offsets[key] = valueOffset;
        return true;
    }

    /// <summary>File offset of a key's value, or -1 when unknown.</summary>
    internal long GetValueOffset(string key) => _offsets.GetValueOrDefault(key, -1);

    public bool ContainsKey(string key) => _values.ContainsKey(key);

    public bool TryGetValue(string key, out object value) => _values.TryGetValue(key, out value!);

    public GgufValueType GetValueType(string key) => _types.TryGetValue(key, out var t) ? t : throw Missing(key);

    public object this[string key] => _values.TryGetValue(key, out var v) ? v : throw Missing(key);

    public string GetString(string key) => TryGetString(key) ?? throw Missing(key, "a string");

    public string? TryGetString(string key)
    {
        if (!_values.TryGetValue(key, out var v))
            return null;
        return v as string ?? throw WrongType(key, "a string");
    }

    public long GetInteger(string key) => TryGetInteger(key) ?? throw Missing(key, "an integer");

    public long? TryGetInteger(string key)
    {
        if (!_values.TryGetValue(key, out var v))
            return null;
        var value = AsInteger(v) ?? throw WrongType(key, "an integer");
        return value <= long.MaxValue ? (long)value : throw OutOfRange(key, Describe(v), "a 64-bit signed integer");
    }

    /// <summary>
    /// An integer that must lie in [<paramref name="min"/>, <paramref name="max"/>] (a count, a length, a size), as an
    /// int. Values of any integer type are compared exactly, so one that does not fit in an int, or is negative or zero
    /// where a count must be positive, is a <see cref="GgufFormatException"/> naming the key, its value and the range:
    /// never an <see cref="OverflowException"/>, and never a wrapped value that fails later somewhere else.
    /// </summary>
    public int GetInt32(string key, int min, int max) => TryGetInt32(key, min, max) ?? throw Missing(key, "an integer");

    /// <inheritdoc cref="GetInt32"/>
    public int? TryGetInt32(string key, int min, int max)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(min, max);
        if (!_values.TryGetValue(key, out var v))
            return null;
        var value = AsInteger(v) ?? throw WrongType(key, "an integer");
        if (value < min || value > max)
            throw Invalid(key, string.Create(CultureInfo.InvariantCulture, $"has value {value}, outside the range {min} to {max} that Tessera accepts"));
        return (int)value;
    }

    public float GetFloat(string key) => TryGetFloat(key) ?? throw Missing(key, "a number");

    public float? TryGetFloat(string key)
    {
        if (!_values.TryGetValue(key, out var v))
            return null;
        return v switch
        {
            float f => f,
            double d => (float)d,
            byte or sbyte or ushort or short or uint or int or ulong or long => ToSingle(v),
            _ => throw WrongType(key, "a number"),
        };
    }

    public bool GetBool(string key) => TryGetBool(key) ?? throw Missing(key, "a boolean");

    public bool? TryGetBool(string key)
    {
        if (!_values.TryGetValue(key, out var v))
            return null;
        return v as bool? ?? throw WrongType(key, "a boolean");
    }

    public GgufArray? TryGetArray(string key)
    {
        if (!_values.TryGetValue(key, out var v))
            return null;
        return v as GgufArray ?? throw WrongType(key, "an array");
    }

    public GgufArray GetArray(string key) => TryGetArray(key) ?? throw Missing(key, "an array");

    /// <summary>An array of strings (token texts, merges).</summary>
    public string[]? TryGetStringArray(string key)
    {
        var array = TryGetArray(key);
        if (array == null)
            return null;
        return array.Values as string[] ?? throw WrongType(key, "an array of strings");
    }

    /// <summary>An array of numbers converted to float (token scores).</summary>
    public float[]? TryGetFloatArray(string key)
    {
        var array = TryGetArray(key);
        if (array == null)
            return null;
        if (array.Values is float[] f)
            return f;
        if (array.ElementType is GgufValueType.String or GgufValueType.Array or GgufValueType.Bool)
            throw WrongType(key, "an array of numbers");
        var result = new float[array.Length];
        for (var i = 0; i < result.Length; i++)
            result[i] = ToSingle(array.Values.GetValue(i)!);
        return result;
    }

    /// <summary>An array of integers converted to int (token types).</summary>
    public int[]? TryGetInt32Array(string key)
    {
        var array = TryGetArray(key);
        if (array == null)
            return null;
        if (array.Values is int[] i32)
            return i32;
        if (array.ElementType is GgufValueType.String or GgufValueType.Array or GgufValueType.Bool
            or GgufValueType.Float32 or GgufValueType.Float64)
            throw WrongType(key, "an array of integers");
        var result = new int[array.Length];
        for (var i = 0; i < result.Length; i++)
        {
            var v = array.Values.GetValue(i)!;
            var value = v switch
            {
                ulong ul => ul > int.MaxValue ? (long?)null : (long)ul,
                _ => Convert.ToInt64(v, CultureInfo.InvariantCulture),
            };
            if (value is not { } l || l is < int.MinValue or > int.MaxValue)
                throw OutOfRange(key, $"element {i} ({Describe(v)})", "a 32-bit integer");
            result[i] = (int)l;
        }
        return result;
    }

    /// <summary>A short human-readable rendering of a value (arrays summarised).</summary>
    public static string Describe(object value, int maxLength = 80)
    {
        var text = value switch
        {
            string s => s,
            bool b => b ? "true" : "false",
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            GgufArray a => DescribeArray(a),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
        text = text.Replace("\n", "\\n", StringComparison.Ordinal);
        return text.Length <= maxLength ? text : text[..(maxLength - 1)] + "…";
    }

    private static string DescribeArray(GgufArray a)
    {
        var shown = Math.Min(a.Length, 6);
        var items = new List<string>(shown + 1);
        for (var i = 0; i < shown; i++)
            items.Add(Describe(a.Values.GetValue(i)!, 24));
        if (a.Length > shown)
            items.Add($"… {a.Length} items");
        return $"{a.ElementType.ToString().ToLowerInvariant()}[{a.Length}] [" + string.Join(", ", items) + "]";
    }

    /// <summary>Any integer value, exactly (every GGUF integer type fits in 128 bits); null for other values.</summary>
    private static Int128? AsInteger(object v) => v switch
    {
        byte b => b,
        sbyte sb => sb,
        ushort us => us,
        short s => s,
        uint ui => ui,
        int i => i,
        ulong ul => ul,
        long l => l,
        _ => null,
    };

    private static float ToSingle(object v) => v switch
    {
        ulong ul => ul,
        _ => (float)Convert.ToDouble(v, CultureInfo.InvariantCulture),
    };

    private GgufFormatException Missing(string key, string? what = null) =>
        new(FilePath, $"required metadata key '{key}'{(what == null ? "" : $" ({what})")} is missing; the file is incomplete or not a supported model.");

    private GgufFormatException WrongType(string key, string expected) =>
        At(key, $"metadata key '{key}' should be {expected} but is {DescribeType(key)}.");

    /// <summary>
    /// A value that is readable but wrong (out of range, inconsistent with another key), at the key's value offset:
    /// "metadata key 'K' PROBLEM; the file is corrupt or not a supported model."
    /// </summary>
    internal GgufFormatException Invalid(string key, string problem) =>
        At(key, $"metadata key '{key}' {problem}; the file is corrupt or not a supported model.");

    private GgufFormatException OutOfRange(string key, string what, string expected) =>
        At(key, $"metadata key '{key}': {what} does not fit in {expected}.");

    private string DescribeType(string key)
    {
        var type = _types.GetValueOrDefault(key);
        return type == GgufValueType.Array && _values.GetValueOrDefault(key) is GgufArray a
            ? $"an array of {a.ElementType}"
            : type.ToString();
    }

    private GgufFormatException At(string key, string problem)
    {
        var offset = GetValueOffset(key);
        return offset >= 0 ? new GgufFormatException(FilePath, offset, problem) : new GgufFormatException(FilePath, problem);
    }
}
