using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tessera.Testing;

/// <summary>
/// Mutates valid JSON documents for fuzzing parsers: mostly structurally (a value replaced by another type or a
/// hostile one, keys removed, added, duplicated or made invalid, values wrapped), so most results are still JSON and
/// reach the checks behind the JSON reader; and some byte mutations (flips, inserts, deletes, truncation), which test
/// the reader itself. Deterministic for a given <see cref="Random"/>, so a failing input reproduces from its seed.
/// </summary>
/// <param name="keys">Names the parser under test reads (and some it does not): added keys are drawn from them.</param>
/// <param name="values">JSON texts the parser under test cares about, added to the generic hostile ones.</param>
internal sealed class JsonMutator(IReadOnlyList<string> keys, IEnumerable<string> values)
{
    /// <summary>JSON texts put in place of a value. Some are not JSON at all (NaN, 01); some are JSON no client sends.</summary>
    private readonly byte[][] _values = [.. GenericValues(), .. values.Select(Encoding.UTF8.GetBytes)];

    /// <summary>Quoted names put in place of a key: escaped spellings of real keys, and names that are not text.</summary>
    private static readonly byte[][] Names =
    [
        Ascii("\"mod\\u0065l\""), Ascii("\"\\u0069d\""), Ascii("\"\""), Ascii("\" model\""), Ascii("\"MODEL\""),
        Ascii("\"\\ud800\""), Ascii("\"\\udc00x\""), Ascii("\"a\\ud83d\""), [(byte)'"', 0xFF, (byte)'"'], [(byte)'"', 0xC0, 0xAF, (byte)'"'],
        Ascii("\"\\u0000\""), Ascii("\"" + new string('k', 10_000) + "\""),
    ];

    private static readonly byte[] Interesting = [0x00, (byte)'"', (byte)'\\', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', 0xFF, 0x80, 0xC0, 0xED, (byte)' ', (byte)'0', (byte)'9', (byte)'-', (byte)'e'];

    /// <summary>One to five mutations of <paramref name="json"/>; what was done is appended to <paramref name="log"/>.</summary>
    public byte[] Mutate(Random rng, string json, List<string> log)
    {
        // Mostly structural, so most inputs stay JSON and reach the field checks; bytes are broken in two of five.
        var byteMutations = rng.Next(10) switch { < 6 => 0, < 9 => 1, _ => 2 };
        var structural = rng.Next(byteMutations == 0 ? 1 : 0, 4);
        var raws = new List<byte[]>();
        byte[] body;
        if (rng.Next(50) == 0)
        {
            body = _values[rng.Next(_values.Length)];
            log.Add($"body={Describe(body)}");
        }
        else
        {
            var tree = JsonNode.Parse(json)!;
            for (var i = 0; i < structural; i++)
                log.Add(MutateTree(rng, tree, raws));
            body = Substitute(Encoding.UTF8.GetBytes(tree.ToJsonString()), raws);
        }
        for (var i = 0; i < byteMutations; i++)
            body = MutateBytes(rng, body, log);
        return body;
    }

    /// <summary>A place that holds a value: a property of an object or an item of an array.</summary>
    private readonly record struct Slot(JsonNode Parent, string? Key, int Index)
    {
        public JsonNode? Value => Key is not null ? Parent.AsObject()[Key] : Parent.AsArray()[Index];

        public void Set(JsonNode? value)
        {
            if (Key is not null)
                Parent.AsObject()[Key] = value;
            else
                Parent.AsArray()[Index] = value;
        }

        public override string ToString() => Key ?? $"[{Index}]";
    }

    private string MutateTree(Random rng, JsonNode root, List<byte[]> raws)
    {
        var slots = new List<Slot>();
        Collect(root, slots);
        var objects = new[] { root }.Concat(slots.Select(s => s.Value)).OfType<JsonObject>().ToList();
        if (objects.Count == 0)
            return "no object to mutate";
        switch (rng.Next(10))
        {
            case < 5 when slots.Count > 0:
            {
                var slot = slots[rng.Next(slots.Count)];
                var raw = _values[rng.Next(_values.Length)];
                slot.Set(Placeholder(raws, raw));
                return $"{slot}={Describe(raw)}";
            }
            case 5:
            {
                var target = objects[rng.Next(objects.Count)];
                if (target.Count == 0)
                    goto default;
                var key = target.ElementAt(rng.Next(target.Count)).Key;
                target.Remove(key);
                return $"-{key}";
            }
            case 6 or 7:
            {
                // A key added beside the others: the same key twice (JSON readers keep both, and a lookup finds one of
                // them), or a name that is no key at all.
                var target = objects[rng.Next(objects.Count)];
                var twice = rng.Next(2) == 0;
                if (twice && target.Count == 0)
                    goto default;
                var name = twice
                    ? [(byte)'"', .. JsonEncodedText.Encode(target.ElementAt(rng.Next(target.Count)).Key).EncodedUtf8Bytes, (byte)'"']
                    : Names[rng.Next(Names.Length)];
                var raw = _values[rng.Next(_values.Length)];
                target[PlaceholderKey(raws, name)] = Placeholder(raws, raw);
                return $"+{Describe(name)}={Describe(raw)}";
            }
            case 8 when slots.Count > 0:
            {
                var slot = slots[rng.Next(slots.Count)];
                var value = slot.Value?.DeepClone();
                JsonNode wrapped = rng.Next(2) == 0 ? new JsonArray(value) : new JsonObject { ["value"] = value };
                slot.Set(wrapped);
                return $"{slot} wrapped in {(wrapped is JsonArray ? "[]" : "{}")}";
            }
            default:
            {
                var target = objects[rng.Next(objects.Count)];
                var key = keys[rng.Next(keys.Count)];
                var raw = _values[rng.Next(_values.Length)];
                target[key] = Placeholder(raws, raw);
                return $"+{key}={Describe(raw)}";
            }
        }
    }

    private static void Collect(JsonNode node, List<Slot> slots)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    slots.Add(new Slot(obj, key, -1));
                    if (value is not null)
                        Collect(value, slots);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    slots.Add(new Slot(array, null, i));
                    if (array[i] is { } item)
                        Collect(item, slots);
                }
                break;
        }
    }

    // Raw texts go into the tree as marker strings, swapped for the raw bytes after serialization: JsonNode could not
    // hold invalid JSON, invalid UTF-8 or a duplicate key.
    private static JsonNode Placeholder(List<byte[]> raws, byte[] raw)
    {
        raws.Add(raw);
        return JsonValue.Create($"@@fuzz{raws.Count - 1}@@");
    }

    private static string PlaceholderKey(List<byte[]> raws, byte[] quotedName)
    {
        raws.Add(quotedName);
        return $"@@fuzz{raws.Count - 1}@@";
    }

    private static byte[] Substitute(byte[] json, List<byte[]> raws)
    {
        if (raws.Count == 0)
            return json;
        var output = new List<byte>(json.Length + raws.Sum(r => r.Length));
        var marker = "\"@@fuzz"u8;
        var i = 0;
        while (i < json.Length)
        {
            var at = json.AsSpan(i).IndexOf(marker);
            if (at < 0)
            {
                output.AddRange(json.AsSpan(i));
                break;
            }
            output.AddRange(json.AsSpan(i, at));
            var start = i + at + marker.Length;
            var end = json.AsSpan(start).IndexOf("@@\""u8) + start;
            var k = int.Parse(Encoding.ASCII.GetString(json, start, end - start), CultureInfo.InvariantCulture);
            output.AddRange(raws[k]);
            i = end + 3;
        }
        return [.. output];
    }

    /// <summary>One byte-level mutation: a bit flip, an interesting byte, random bytes inserted, a span deleted or repeated, a cut.</summary>
    public static byte[] MutateBytes(Random rng, byte[] body, List<string> log)
    {
        if (body.Length == 0)
            return [(byte)rng.Next(256)];
        var at = rng.Next(body.Length);
        var list = new List<byte>(body);
        switch (rng.Next(6))
        {
            case 0:
                list[at] ^= (byte)(1 << rng.Next(8));
                log.Add($"flip @{at}");
                break;
            case 1:
                list[at] = Interesting[rng.Next(Interesting.Length)];
                log.Add($"byte @{at}={list[at]:X2}");
                break;
            case 2:
                var inserted = new byte[rng.Next(1, 9)];
                rng.NextBytes(inserted);
                list.InsertRange(at, inserted);
                log.Add($"insert {inserted.Length} @{at}");
                break;
            case 3:
                var count = Math.Min(rng.Next(1, 17), body.Length - at);
                list.RemoveRange(at, count);
                log.Add($"delete {count} @{at}");
                break;
            case 4:
                list.RemoveRange(at, body.Length - at);
                log.Add($"cut @{at}");
                break;
            default:
                var length = Math.Min(rng.Next(1, 33), body.Length - at);
                list.InsertRange(rng.Next(body.Length), body.AsSpan(at, length).ToArray());
                log.Add($"repeat {length} @{at}");
                break;
        }
        return [.. list];
    }

    private static string Describe(byte[] raw) =>
        raw.Length <= 24 ? Encoding.UTF8.GetString(raw) : $"{Encoding.UTF8.GetString(raw, 0, 12)}...({raw.Length} bytes)";

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static IEnumerable<byte[]> GenericValues()
    {
        foreach (var text in new[]
                 {
                     // numbers at the edges of int, long, float and double
                     "null", "true", "false", "0", "-0", "1", "-1", "0.5", "1.5", "2", "3", "21", "64", "4097", "-0.0", "1E2", "1e-7",
                     "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808", "18446744073709551616",
                     "1e39", "-1e39", "3.4028235e38", "1.7976931348623157e308", "1e400", "-1e400", "1e-400", "4.9e-324",
                     "123456789012345678901234567890123456789012345678901234567890",
                     // strings: empty, numbers and non-numbers as text, escapes, and unpaired surrogates
                     "\"\"", "\" \"", "\"text\"", "\"0.5\"", "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "\"\\u0000\"", "\"\\n\\t\\\"\"",
                     "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\udc00\\ud800\"", "\"a\\ud83d\"", "\"\\ud83dx\"",
                     // containers: empty and of the wrong kind
                     "[]", "{}", "[[]]", "[null]", "[1,2,3]", "[-1]", "[1.5]", "[\"a\",\"b\"]", "[\"a\",1]", "[[1,2],[3]]", "[[\"a\"]]",
                     // not JSON
                     "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "--1", "0x10", "tru", "nul", "'x'", "\"open", "}", "]", "",
                 })
        {
            yield return Encoding.UTF8.GetBytes(text);
        }

        // invalid UTF-8 inside strings: a stray byte, an overlong '/', an encoded surrogate, a cut sequence, past U+10FFFF
        yield return [(byte)'"', 0xFF, (byte)'"'];
        yield return [(byte)'"', 0xC0, 0xAF, (byte)'"'];
        yield return [(byte)'"', 0xED, 0xA0, 0x80, (byte)'"'];
        yield return [(byte)'"', (byte)'a', 0xE2, 0x82, (byte)'"'];
        yield return [(byte)'"', 0xF4, 0x90, 0x80, 0x80, (byte)'"'];

        // nesting: just within a reader's default depth of 64, just past it, and far past it (closed and left open)
        foreach (var depth in new[] { 60, 64, 65, 10_000 })
        {
            yield return Ascii(new string('[', depth) + new string(']', depth));
            yield return Ascii(string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth));
        }
        yield return Ascii(new string('[', 10_000));

        // size: long strings, with and without escapes, and long arrays
        yield return Ascii("\"" + new string('x', 100_000) + "\"");
        yield return Ascii("\"" + string.Concat(Enumerable.Repeat("\\u00e9", 20_000)) + "\"");
        yield return Ascii("[" + string.Join(",", Enumerable.Range(0, 100_000)) + "]");
        yield return Ascii("[" + string.Join(",", Enumerable.Repeat("\"s\"", 5_000)) + "]");
    }
}
