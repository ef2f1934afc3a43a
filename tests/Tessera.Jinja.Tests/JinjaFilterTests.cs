namespace Tessera.Jinja.Tests;

/// <summary>The built-in filters.</summary>
public sealed class JinjaFilterTests
{
    private static readonly List<object?> Messages =
    [
        new Dictionary<string, object?> { ["role"] = "system", ["content"] = "S" },
        new Dictionary<string, object?> { ["role"] = "user", ["content"] = "U1" },
        new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "A" },
        new Dictionary<string, object?> { ["role"] = "user", ["content"] = "U2" },
    ];

    [Theory]
    [InlineData("{{ '  hi \n' | trim }}|{{ 'xxhixx' | trim('x') }}", "hi|hi")]
    [InlineData("{{ 'abc' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }}", "3 2 1")]
    [InlineData("{{ 'Ab' | upper }} {{ 'Ab' | lower }} {{ 'hello big-world' | title }} {{ 'hELLO' | capitalize }}", "AB ab Hello Big-World Hello")]
    [InlineData("{{ missing | default('d') }} {{ missing | d('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }}", "d d  d None")]
    [InlineData("{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }}", "1 3 a")]
    [InlineData("{{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }}", "1, 2, 3 ab")]
    [InlineData("{{ 'a-b-a' | replace('a', 'x') }}", "x-b-x")]
    [InlineData("{{ 5 | string }}{{ none | string }} {{ '42' | int + 1 }} {{ '3.9' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '2.5' | float }} {{ 3 | float }}", "5None 43 3 0 7 2.5 3.0")]
    [InlineData("{{ 'abc' | list }} {{ {'a': 1} | items | list }}", "['a', 'b', 'c'] [('a', 1)]")]
    [InlineData("{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }}", "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c']")]
    [InlineData("{{ [1, 2, 1, 3] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }}", "[1, 2, 3] ['a', 'b']")]
    [InlineData("{{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }}", "[3, 2, 1] cba")]
    [InlineData("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ [0, 1, '', 'a'] | select | list }}", "[1, 3] [2, 4] [1, 'a']")]
    [InlineData("{{ '<a href=\"x\">&</a>' | escape }} {{ '<b>' | e }} {{ '<b>' | safe }}", "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt; &lt;b&gt; <b>")]
    [InlineData("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}", "a\n  b\n\n  c|  a\n  b|a\n  \n  b")]
    [InlineData("{{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }}", "2.57 2.0 3.0 2.0")]
    [InlineData("{{ -3 | abs }} {{ (-2.5) | abs }}", "3 2.5")]
    [InlineData("{{ 'one two  three' | wordcount }}", "3")]
    [InlineData("{{ [1, 2, 3] | sum }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }}", "6 3 1")]
    [InlineData("{{ {'b': 1, 'a': 2} | dictsort }}", "[('a', 2), ('b', 1)]")]
    [InlineData("{{ ['a', 'b'] | map('upper') | list }}", "['A', 'B']")]
    public void Filters(string source, string expected) => Assert.Equal(expected, Jinja.Render(source));

    [Fact]
    public void SelectattrAndRejectattr_FilterDictsByAnAttributeTest()
    {
        Assert.Equal("U1U2|SA",
            Jinja.Render("{% for m in messages | selectattr('role', 'equalto', 'user') %}{{ m.content }}{% endfor %}|" +
                         "{% for m in messages | rejectattr('role', 'equalto', 'user') %}{{ m.content }}{% endfor %}",
                ("messages", Messages)));
    }

    [Fact]
    public void SelectattrWithoutATest_KeepsTruthyAttributes()
    {
        var items = new List<object?>
        {
            new Dictionary<string, object?> { ["n"] = "a", ["on"] = true },
            new Dictionary<string, object?> { ["n"] = "b", ["on"] = false },
            new Dictionary<string, object?> { ["n"] = "c" },
        };

        Assert.Equal("['a']", Jinja.Render("{{ items | selectattr('on') | map(attribute='n') | list }}", ("items", items)));
    }

    [Fact]
    public void MapAttribute_WithDottedPathAndDefault()
    {
        var items = new List<object?>
        {
            new Dictionary<string, object?> { ["function"] = new Dictionary<string, object?> { ["name"] = "f" } },
            new Dictionary<string, object?>(),
        };

        Assert.Equal("f,?", Jinja.Render("{{ items | map(attribute='function.name', default='?') | join(',') }}", ("items", items)));
    }

    [Fact]
    public void SortByAttribute()
    {
        var items = new List<object?>
        {
            new Dictionary<string, object?> { ["n"] = "b" },
            new Dictionary<string, object?> { ["n"] = "a" },
        };

        Assert.Equal("ab", Jinja.Render("{% for i in items | sort(attribute='n') %}{{ i.n }}{% endfor %}", ("items", items)));
    }

    [Fact]
    public void ToJson_MatchesPythonJsonDumpsWithoutAsciiEscaping()
    {
        var value = new Dictionary<string, object?>
        {
            ["s"] = "héllo \"q\" \\ \n\t\u0001 😀",
            ["i"] = 1,
            ["f"] = 0.5,
            ["b"] = true,
            ["n"] = null,
            ["l"] = new List<object?> { 1, "a" },
            ["e"] = new List<object?>(),
        };

        Assert.Equal(
            "{\"s\": \"héllo \\\"q\\\" \\\\ \\n\\t\\u0001 😀\", \"i\": 1, \"f\": 0.5, \"b\": true, \"n\": null, \"l\": [1, \"a\"], \"e\": []}",
            Jinja.Render("{{ v | tojson }}", ("v", value)));
    }

    [Fact]
    public void ToJson_WithIndent()
    {
        var value = new Dictionary<string, object?> { ["a"] = new List<object?> { 1, 2 }, ["b"] = new Dictionary<string, object?>() };

        Assert.Equal("{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}", Jinja.Render("{{ v | tojson(indent=2) }}", ("v", value)));
    }

    [Fact]
    public void ToJson_SortKeys() =>
        Assert.Equal("{\"a\": 2, \"b\": 1}", Jinja.Render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}"));

    [Fact]
    public void FilterChains_BindTighterThanPlus() =>
        Assert.Equal("<x>", Jinja.Render("{{ '<' + ' x ' | trim + '>' }}"));

    [Fact]
    public void Length_CountsCodePointsLikePython() =>
        Assert.Equal("2 😀", Jinja.Render("{{ 'a😀' | length }} {{ 'a😀'[1] }}"));
}
