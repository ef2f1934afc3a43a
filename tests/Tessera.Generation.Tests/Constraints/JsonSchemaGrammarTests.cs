using System.Text.Json;
using Tessera.Generation.Constraints;
using static Tessera.Generation.Tests.Constraints.ByteGrammar;

namespace Tessera.Generation.Tests.Constraints;

public sealed class JsonSchemaGrammarTests
{
    private static GrammarAutomaton Schema(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return Compile(JsonSchemaGrammar.ForSchema(doc.RootElement));
    }

    private const string Person = """
        {"type": "object",
         "properties": {
           "name": {"type": "string"},
           "age": {"type": "integer"},
           "email": {"type": "string", "format": "email"},
           "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
         },
         "required": ["name", "age"],
         "additionalProperties": false}
        """;

    [Theory]
    [InlineData("{\"name\": \"Ada\", \"age\": 36}", true)]
    [InlineData("{\"name\":\"Ada\",\"age\":36,\"email\":\"ada@example.org\",\"tags\":[\"a\",\"b\"]}", true)]
    [InlineData("{\n  \"name\": \"Ada\",\n  \"age\": 36,\n  \"tags\": []\n}", true)]
    [InlineData("{\"name\": \"Ada \\\"the first\\\" \\u00e9\", \"age\": -1}", true)]
    [InlineData("{\"age\": 36, \"name\": \"Ada\"}", false)] // properties come in the schema's order
    [InlineData("{\"name\": \"Ada\"}", false)] // age is required
    [InlineData("{\"name\": \"Ada\", \"age\": 36.5}", false)]
    [InlineData("{\"name\": \"Ada\", \"age\": \"36\"}", false)]
    [InlineData("{\"name\": \"Ada\", \"age\": 36, \"extra\": 1}", false)]
    [InlineData("{\"name\": \"Ada\", \"age\": 36, \"tags\": [\"a\",\"b\",\"c\",\"d\"]}", false)]
    [InlineData("{\"name\": \"Ada\", \"age\": 36, \"email\": \"not an email\"}", false)]
    [InlineData("{\"name\": \"A\nda\", \"age\": 36}", false)] // raw control characters are not JSON
    [InlineData("{\"name\": \"Ada\", \"age\": 036}", false)]
    public void Objects(string json, bool valid) => Assert.Equal(valid, Matches(Schema(Person), json));

    [Fact]
    public void EveryAcceptedDocumentOfAFiniteSchema_ParsesAndIsValid()
    {
        var g = Schema("""{"type":"object","properties":{"c":{"enum":["red","green",null,3]},"ok":{"type":"boolean"},"n":{"type":["integer","null"]}},"required":["c","ok","n"]}""");
        Assert.True(Matches(g, "{\"c\": \"red\", \"ok\": false, \"n\": null}"));
        Assert.True(Matches(g, "{\"c\": null, \"ok\": true, \"n\": 12}"));
        Assert.True(Matches(g, "{\"c\": 3, \"ok\": true, \"n\": 0}"));
        Assert.False(Matches(g, "{\"c\": \"blue\", \"ok\": true, \"n\": 0}"));
        Assert.False(Matches(g, "{\"c\": \"red\", \"ok\": 1, \"n\": 0}"));
    }

    [Fact]
    public void AnyOf_Const_Nested_AndRecursiveRefs()
    {
        var g = Schema("""
            {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}},
             "anyOf": [{"$ref": "#/$defs/node"}, {"const": {"none": true}}]}
            """);
        Assert.True(Matches(g, "{\"v\": 1, \"kids\": [{\"v\": 2}, {\"v\": 3, \"kids\": [{\"v\": 4, \"kids\": []}]}]}"));
        Assert.True(Matches(g, "{\"none\":true}"));
        Assert.False(Matches(g, "{\"none\": true}")); // a const is its compact JSON text
        Assert.False(Matches(g, "{\"v\": 1, \"kids\": [{\"w\": 2}]}"));
    }

    [Theory]
    [InlineData("""{"type":"string","format":"date"}""", "\"2026-12-07\"", true)]
    [InlineData("""{"type":"string","format":"date"}""", "\"2026-13-07\"", false)]
    [InlineData("""{"type":"string","format":"date-time"}""", "\"2026-12-07T16:17:00Z\"", true)]
    [InlineData("""{"type":"string","format":"date-time"}""", "\"2026-12-07T16:17:00.125+01:00\"", true)]
    [InlineData("""{"type":"string","format":"date-time"}""", "\"2026-12-07 16:17:00\"", false)]
    [InlineData("""{"type":"string","format":"time"}""", "\"24:00:00Z\"", false)]
    [InlineData("""{"type":"string","format":"uuid"}""", "\"123e4567-e89b-12d3-a456-426614174000\"", true)]
    [InlineData("""{"type":"string","format":"uuid"}""", "\"123e4567e89b12d3a456426614174000\"", false)]
    [InlineData("""{"type":"string","format":"ipv4"}""", "\"192.168.0.255\"", true)]
    [InlineData("""{"type":"string","format":"ipv4"}""", "\"192.168.0.256\"", false)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"ab\"", true)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"a\"", false)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"é\\n€\"", true)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"abcd\"", false)]
    [InlineData("""{"type":"array","minItems":2}""", "[1, \"x\"]", true)]
    [InlineData("""{"type":"array","minItems":2}""", "[1]", false)]
    [InlineData("""{"type":"number"}""", "-1.25e+10", true)]
    [InlineData("""{"type":"number"}""", "1.", false)]
    [InlineData("""true""", "{\"any\": [1, {\"thing\": null}]}", true)]
    public void StringsArraysAndNumbers(string schema, string json, bool valid) => Assert.Equal(valid, Matches(Schema(schema), json));

    [Theory]
    [InlineData("""{"type":"integer","minimum":-37,"maximum":1205}""", -37L, 1205L)]
    [InlineData("""{"type":"integer","minimum":0}""", 0L, long.MaxValue)]
    [InlineData("""{"type":"integer","exclusiveMinimum":9}""", 10L, long.MaxValue)]
    [InlineData("""{"type":"integer","maximum":-5}""", long.MinValue, -5L)]
    [InlineData("""{"type":"integer","exclusiveMaximum":100,"minimum":1.5}""", 2L, 99L)]
    [InlineData("""{"type":"integer","minimum":100,"maximum":100}""", 100L, 100L)]
    [InlineData("""{"type":"integer","minimum":-1000,"maximum":-990}""", -1000L, -990L)]
    public void IntegerRanges_AcceptExactlyTheirIntegers(string schema, long lo, long hi)
    {
        var g = Schema(schema);
        for (var n = -2100L; n <= 2100; n++)
            Assert.True((n >= lo && n <= hi) == Matches(g, n.ToString(System.Globalization.CultureInfo.InvariantCulture)), $"{n}");
        Assert.False(Matches(g, "-0"));
        Assert.Equal(hi == long.MaxValue, Matches(g, "123456789012"));
    }

    [Theory]
    [InlineData("""{"type":"string","pattern":"^a+$"}""", "$.pattern")]
    [InlineData("""{"type":"object","properties":{"x":{"type":"number","minimum":0}}}""", "$.properties.x.minimum")]
    [InlineData("""{"type":"object","properties":{"x":{"not":{"type":"string"}}}}""", "$.properties.x.not")]
    [InlineData("""{"type":"string","format":"hostname"}""", "$.format")]
    [InlineData("""{"allOf":[{"type":"string"},{"minLength":2}]}""", "$.allOf")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "$.$ref")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string"}},"required":["b"]}""", "$.required")]
    [InlineData("""{"type":"thing"}""", "$.type")]
    [InlineData("""false""", "$")]
    public void UnsupportedFeatures_AreRefusedWithTheirPlace(string schema, string path)
    {
        using var doc = JsonDocument.Parse(schema);
        var e = Assert.Throws<UnsupportedSchemaException>(() => JsonSchemaGrammar.ForSchema(doc.RootElement));
        Assert.Equal(path, e.Path);
    }

    [Fact]
    public void Lenient_IgnoresWhatItCannotEnforce()
    {
        using var doc = JsonDocument.Parse("""{"type":"object","properties":{"q":{"type":"string","pattern":"^a"},"x":{"type":"number","minimum":0}},"required":["q","x"]}""");
        var g = Compile(JsonSchemaGrammar.ForSchema(doc.RootElement, SchemaStrictness.Lenient));
        Assert.True(Matches(g, "{\"q\": \"b\", \"x\": -1}"));
    }

    [Fact]
    public void AnyObject_IsJsonObjectsOnly()
    {
        var g = Compile(JsonSchemaGrammar.AnyObject());
        Assert.True(Matches(g, "{\"a\": [1, 2.5, \"x\", true, null, {\"b\": {}}], \"c\": \"\"}"));
        Assert.True(Matches(g, "{}"));
        Assert.False(IsPrefix(g, "["));
        Assert.False(IsPrefix(g, "{\"a\": tru "));
        Assert.False(IsPrefix(g, "{\"a\": 1}x")); // nothing after the object
    }

    [Fact]
    public void RulesFor_ComposeIntoALargerGrammar()
    {
        using var doc = JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""");
        var top = JsonSchemaGrammar.RulesFor(doc.RootElement, "get-weather", SchemaStrictness.Strict, out var rules);
        var g = Compile($"root ::= \"<call>\" {top} \"</call>\"\n{rules}");
        Assert.True(Matches(g, "<call>{\"city\": \"Paris\"}</call>"));
        Assert.False(Matches(g, "<call>{\"town\": \"Paris\"}</call>"));
    }
}
