using Tessera.Generation;
using Tessera.Jinja;
using Tessera.Testing;

namespace Tessera.Jinja.Tests;

/// <summary>Literals, operators, tests, attribute/item access, slicing, methods, globals and undefined values.</summary>
public sealed class JinjaExpressionTests
{
    [Theory]
    [InlineData("{{ 'a\\'b' }}", "a'b")]
    [InlineData("{{ \"tab\\there\" }}", "tab\there")]
    [InlineData("{{ 'line\\nbreak' }}", "line\nbreak")]
    [InlineData("{{ '\\u00e9\\x41' }}", "éA")]
    [InlineData("{{ 'a' 'b' }}", "ab")]
    [InlineData("{{ 42 }}", "42")]
    [InlineData("{{ 1_000 }}", "1000")]
    [InlineData("{{ 2.5 }}", "2.5")]
    [InlineData("{{ 1e3 }}", "1000.0")]
    [InlineData("{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", "True True False None None")]
    [InlineData("{{ [1, 'a', none, true] }}", "[1, 'a', None, True]")]
    [InlineData("{{ {'k': 'v', 'n': 1} }}", "{'k': 'v', 'n': 1}")]
    [InlineData("{{ (1, 2) }} {{ (1,) }}", "(1, 2) (1,)")]
    public void Literals(string source, string expected) => Assert.Equal(expected, Jinja.Render(source));

    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ (1 + 2) * 3 }}", "9")]
    [InlineData("{{ 7 / 2 }}", "3.5")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }}", "3 -4")]
    [InlineData("{{ 7 % 3 }} {{ -7 % 3 }}", "1 2")]
    [InlineData("{{ 2 ** 10 }}", "1024")]
    [InlineData("{{ 0.1 + 0.2 }}", "0.30000000000000004")]
    [InlineData("{{ -3 }} {{ - -3 }}", "-3 3")]
    [InlineData("{{ 'a' + 'b' }}", "ab")]
    [InlineData("{{ 'ab' * 3 }}", "ababab")]
    [InlineData("{{ [1] + [2] }}", "[1, 2]")]
    [InlineData("{{ 'n=' ~ 5 ~ none }}", "n=5None")]
    [InlineData("{{ 'x' ~ missing ~ 'y' }}", "xy")]
    public void Arithmetic(string source, string expected) => Assert.Equal(expected, Jinja.Render(source));

    [Theory]
    [InlineData("{{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 1 < 2 <= 2 }} {{ 3 > 2 > 2 }}", "True True True False")]
    [InlineData("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}", "True True True True")]
    [InlineData("{{ true and 'x' }} {{ 0 or 'y' }} {{ not 0 }} {{ not 'a' }}", "x y True False")]
    [InlineData("{{ 'yes' if 1 > 0 else 'no' }} {{ 'yes' if 1 < 0 else 'no' }}", "yes no")]
    [InlineData("[{{ 'yes' if false }}]", "[]")]
    [InlineData("{{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }}", "True True")]
    public void ComparisonLogicAndConditionals(string source, string expected) => Assert.Equal(expected, Jinja.Render(source));

    [Theory]
    [InlineData("{{ x is defined }} {{ missing is defined }} {{ missing is undefined }}", "True False True")]
    [InlineData("{{ none is none }} {{ x is not none }}", "True True")]
    [InlineData("{{ 'a' is string }} {{ 1 is string }} {{ {} is mapping }} {{ [] is mapping }}", "True False True False")]
    [InlineData("{{ 'a' is iterable }} {{ [] is iterable }} {{ 1 is iterable }} {{ [] is sequence }}", "True True False True")]
    [InlineData("{{ 1 is number }} {{ 1.5 is number }} {{ 'a' is number }}", "True True False")]
    [InlineData("{{ true is boolean }} {{ true is true }} {{ false is false }} {{ 0 is false }}", "True True True False")]
    [InlineData("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}", "True True True False")]
    [InlineData("{{ 2 is eq 2 }} {{ 'a' is equalto 'b' }} {{ 3 is gt 2 }}", "True False True")]
    public void Tests(string source, string expected) => Assert.Equal(expected, Jinja.Render(source, ("x", 1)));

    [Fact]
    public void AttributeAndItemAccess_OnDictsAndLists()
    {
        var message = new Dictionary<string, object?> { ["role"] = "user", ["parts"] = new List<object?> { "a", "b", "c" } };

        Assert.Equal("user user c b", Jinja.Render("{{ m.role }} {{ m['role'] }} {{ m.parts[-1] }} {{ m.parts.1 }}", ("m", message)));
    }

    [Theory]
    [InlineData("{{ xs[1:] }}", "[2, 3, 4]")]
    [InlineData("{{ xs[:-1] }}", "[1, 2, 3]")]
    [InlineData("{{ xs[::-1] }}", "[4, 3, 2, 1]")]
    [InlineData("{{ xs[::2] }}", "[1, 3]")]
    [InlineData("{{ xs[-2:] }}", "[3, 4]")]
    [InlineData("{{ xs[10:] }}", "[]")]
    [InlineData("{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[-1] }}", "el olleh o")]
    [InlineData("{{ '{\"a\": 1}'[:-1] }}", "{\"a\": 1")]
    public void Slicing(string source, string expected) =>
        Assert.Equal(expected, Jinja.Render(source, ("xs", new List<object?> { 1, 2, 3, 4 })));

    [Theory]
    [InlineData("{{ '  x  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'x  '.rstrip() }}|", "x|a|x|x|")]
    [InlineData("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a-b-c'.split('-', 1) }}", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b-c']")]
    [InlineData("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }}", "True True")]
    [InlineData("{{ 'aBc'.upper() }} {{ 'aBc'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}", "ABC abc Hello World Hello")]
    [InlineData("{{ 'a-a-a'.replace('a', 'b') }} {{ 'a-a-a'.replace('a', 'b', 1) }}", "b-b-b b-a-a")]
    [InlineData("{{ '{} and {}'.format(1, 'two') }} {{ '{name}!'.format(name='hi') }}", "1 and two hi!")]
    [InlineData("{{ ', '.join(['a', 'b']) }}", "a, b")]
    public void StringMethods(string source, string expected) => Assert.Equal(expected, Jinja.Render(source));

    [Fact]
    public void DictMethods()
    {
        var d = new Dictionary<string, object?> { ["a"] = 1, ["b"] = 2 };

        Assert.Equal("['a', 'b'] [1, 2] [('a', 1), ('b', 2)] 1 None 9",
            Jinja.Render("{{ d.keys() }} {{ d.values() }} {{ d.items() }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 9) }}", ("d", d)));
    }

    [Fact]
    public void Globals_RangeAndDict() =>
        Assert.Equal("[0, 1, 2] [1, 3] [3, 2, 1] {'a': 1}", Jinja.Render("{{ range(3) }} {{ range(1, 5, 2) }} {{ range(3, 0, -1) }} {{ dict(a=1) }}"));

    [Fact]
    public void StrftimeNow_ReadsTheInjectedClock()
    {
        var options = new JinjaRenderOptions { Clock = new FixedClock(new DateTimeOffset(2024, 7, 6, 9, 5, 3, TimeSpan.Zero)) };

        var text = JinjaTemplate.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%-d %B %Y, %A %H:%M:%S %p') }}").Render(new Dictionary<string, object?>(), options);

        Assert.Equal("06 Jul 2024|6 July 2024, Saturday 09:05:03 AM", text);
    }

    [Fact]
    public void RaiseException_ThrowsTheTemplatesMessageWithItsPosition()
    {
        var error = Assert.Throws<TemplateRaisedException>(() => Jinja.Render("line one\n  {{ raise_exception('Bad input: ' ~ x) }}", ("x", 3)));

        Assert.Equal("Bad input: 3", error.Message);
        Assert.Equal(2, error.Line);
    }

    [Fact]
    public void Undefined_RendersEmptyIsFalsyAndChainsAttributes() =>
        Assert.Equal("[]|no|[]|0|True",
            Jinja.Render("[{{ missing }}]|{% if missing %}yes{% else %}no{% endif %}|[{{ missing.a.b['c'] }}]|{{ missing | length }}|{{ m.nothing is undefined }}",
                ("m", new Dictionary<string, object?>())));

    [Fact]
    public void Undefined_InArithmetic_IsAnErrorNamingIt()
    {
        var error = Assert.Throws<TemplateRenderException>(() =>
            Jinja.Render("{{ 'x' + message.content }}", ("message", new Dictionary<string, object?> { ["role"] = "user" })));

        Assert.Contains("'message.content' is undefined", error.Message);
        Assert.Equal(1, error.Line);
    }

    [Fact]
    public void AddingNoneToAString_IsAnErrorSayingWhy()
    {
        var error = Assert.Throws<TemplateRenderException>(() => Jinja.Render("{{ 'x' + none }}"));

        Assert.Contains("unsupported operand types for +: 'str' and 'NoneType'", error.Message);
    }

    [Fact]
    public void Variables_AcceptDotNetCollectionsAndNumbers()
    {
        var variables = new Dictionary<string, object?>
        {
            ["ints"] = new[] { 1, 2 },
            ["f"] = 1.5f,
            ["msgs"] = new[] { new ChatMessage("user", "hi") },
            ["ro"] = new Dictionary<string, object?> { ["k"] = (byte)7 }.AsReadOnly(),
        };

        Assert.Equal("[1, 2] 1.5 hi 7", JinjaTemplate.Parse("{{ ints }} {{ f }} {{ msgs[0].content }} {{ ro.k }}").Render(variables));
    }
}
