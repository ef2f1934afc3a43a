using Tessera.Jinja;

namespace Tessera.Jinja.Tests;

/// <summary>if, for (loop variables, else, unpacking, filtering, break/continue), set, namespace, macros, filter blocks.</summary>
public sealed class JinjaStatementTests
{
    private static readonly List<object?> Numbers = [1, 2, 3];

    [Theory]
    [InlineData(1, "one")]
    [InlineData(2, "two")]
    [InlineData(3, "many")]
    public void IfElifElse_PicksTheFirstTrueBranch(int n, string expected) =>
        Assert.Equal(expected, Jinja.Render("{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}", ("n", n)));

    [Fact]
    public void For_ExposesLoopVariables() =>
        Assert.Equal(
            "[0 1 3 True False 3 2][1 2 3 False False 2 1][2 3 3 False True 1 0]",
            Jinja.Render("{% for x in xs %}[{{ loop.index0 }} {{ loop.index }} {{ loop.length }} {{ loop.first }} {{ loop.last }} {{ loop.revindex }} {{ loop.revindex0 }}]{% endfor %}", ("xs", Numbers)));

    [Fact]
    public void For_PrevitemNextitemAndCycle() =>
        Assert.Equal(
            "(-1+2a)(1-2+3b)(2-3+a)",
            Jinja.Render("{% for x in xs %}({% if loop.previtem is defined %}{{ loop.previtem }}{% endif %}-{{ x }}+{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}){% endfor %}", ("xs", Numbers)));

    [Fact]
    public void ForElse_RunsWhenThereAreNoItems() =>
        Assert.Equal("empty", Jinja.Render("{% for x in xs %}{{ x }}{% else %}empty{% endfor %}", ("xs", new List<object?>())));

    [Fact]
    public void For_OverUndefined_RunsElse() =>
        Assert.Equal("none", Jinja.Render("{% for x in missing %}{{ x }}{% else %}none{% endfor %}"));

    [Fact]
    public void For_UnpacksTuples() =>
        Assert.Equal("a=1;b=2;", Jinja.Render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
            ("d", new Dictionary<string, object?> { ["a"] = 1, ["b"] = 2 })));

    [Fact]
    public void For_WithIfFilter_CountsOnlyKeptItemsInLoop() =>
        Assert.Equal("2/2 4/2 ", Jinja.Render("{% for x in range(1, 5) if x is even %}{{ x }}/{{ loop.length }} {% endfor %}"));

    [Fact]
    public void For_OverDict_VisitsKeysInInsertionOrder() =>
        Assert.Equal("zab", Jinja.Render("{% for k in d %}{{ k }}{% endfor %}",
            ("d", new Dictionary<string, object?> { ["z"] = 1, ["a"] = 2, ["b"] = 3 })));

    [Fact]
    public void BreakAndContinue() =>
        Assert.Equal("13", Jinja.Render("{% for x in range(10) %}{% if x == 4 %}{% break %}{% endif %}{% if x is even %}{% continue %}{% endif %}{{ x }}{% endfor %}"));

    [Fact]
    public void NestedLoops_HaveTheirOwnLoopVariable() =>
        Assert.Equal("1.1 1.2 2.1 2.2 ", Jinja.Render("{% for a in [1, 2] %}{% for b in [1, 2] %}{{ loop.index }}{% endfor %}{% endfor %}".Replace("{{ loop.index }}", "{{ a }}.{{ loop.index }} ")));

    [Fact]
    public void Set_InsideALoop_DoesNotLeakOut() =>
        Assert.Equal("0", Jinja.Render("{% set total = 0 %}{% for x in [1, 2] %}{% set total = total + x %}{% endfor %}{{ total }}"));

    [Fact]
    public void Namespace_CarriesValuesOutOfLoops() =>
        Assert.Equal("3 True", Jinja.Render("{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2] %}{% set ns.total = ns.total + x %}{% set ns.seen = true %}{% endfor %}{{ ns.total }} {{ ns.seen }}"));

    [Fact]
    public void Namespace_AttributeAssignmentOnNonNamespace_IsAnError()
    {
        var error = Assert.Throws<TemplateRenderException>(() => Jinja.Render("{% set x = 1 %}{% set x.y = 2 %}"));

        Assert.Contains("not a namespace", error.Message);
    }

    [Fact]
    public void Set_AtTopLevelInsideIf_IsVisibleAfterwards() =>
        Assert.Equal("b", Jinja.Render("{% if true %}{% set x = 'b' %}{% endif %}{{ x }}"));

    [Fact]
    public void Set_WithTupleUnpacking() =>
        Assert.Equal("2-1", Jinja.Render("{% set a, b = 1, 2 %}{{ b }}-{{ a }}"));

    [Fact]
    public void SetBlock_CapturesRenderedText() =>
        Assert.Equal("[HELLO BOB]", Jinja.Render("{% set greeting | upper %}hello {{ name }}{% endset %}[{{ greeting }}]", ("name", "bob")));

    [Fact]
    public void Macro_WithDefaultsAndKeywordArguments() =>
        Assert.Equal("<b>x</b>|<i>y</i>", Jinja.Render("{% macro tag(text, name='b') %}<{{ name }}>{{ text }}</{{ name }}>{% endmacro %}{{ tag('x') }}|{{ tag('y', name='i') }}"));

    [Fact]
    public void Macro_SeesTemplateVariables() =>
        Assert.Equal("hi bob", Jinja.Render("{% macro greet() %}hi {{ who }}{% endmacro %}{{ greet() }}", ("who", "bob")));

    [Fact]
    public void FilterBlock_AppliesTheFilterToItsBody() =>
        Assert.Equal("ABC", Jinja.Render("{% filter upper %}a{{ 'b' }}c{% endfilter %}"));

    [Fact]
    public void GenerationBlock_RendersItsBody() =>
        Assert.Equal("abc", Jinja.Render("a{% generation %}b{% endgeneration %}c"));
}
