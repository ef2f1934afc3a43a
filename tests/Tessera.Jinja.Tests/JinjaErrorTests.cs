using Tessera.Jinja;

namespace Tessera.Jinja.Tests;

/// <summary>Malformed templates give a syntax error naming the position and what was expected; runaway templates are bounded.</summary>
public sealed class JinjaErrorTests
{
    private static TemplateSyntaxException SyntaxError(string source) =>
        Assert.Throws<TemplateSyntaxException>(() => JinjaTemplate.Parse(source));

    [Fact]
    public void UnclosedIf_NamesTheMissingEndTagAndWhereTheBlockOpened()
    {
        var error = SyntaxError("a\n{% if x %}\nb");

        Assert.Equal(3, error.Line);
        Assert.Contains("expected 'endif' to close the 'if' block opened at line 2, column 4", error.Message);
        Assert.StartsWith("Chat template syntax error at line 3, column 2:", error.Message);
    }

    [Fact]
    public void UnclosedExpression_PointsAtItsStart()
    {
        var error = SyntaxError("hello\n  {{ name ");

        Assert.Equal((2, 3), (error.Line, error.Column));
        Assert.Contains("expected '}}'", error.Message);
    }

    [Fact]
    public void MismatchedEndTag_SaysWhatTheOpenBlockExpects()
    {
        var error = SyntaxError("{% for x in y %}{% endif %}");

        Assert.Equal((1, 20), (error.Line, error.Column));
        Assert.Contains("unexpected tag 'endif'", error.Message);
        Assert.Contains("'else' or 'endfor'", error.Message);
    }

    [Fact]
    public void StrayEndTag_IsReported() =>
        Assert.Contains("no open block", SyntaxError("{% endfor %}").Message);

    [Fact]
    public void MissingOperand_SaysAnExpressionWasExpected()
    {
        var error = SyntaxError("{{ 1 + }}");

        Assert.Equal((1, 8), (error.Line, error.Column));
        Assert.Contains("expected an expression, found '}}'", error.Message);
    }

    [Fact]
    public void WrongCloser_IsReported() =>
        Assert.Contains("'%}' was expected", SyntaxError("{% if x }}yes{% endif %}").Message);

    [Theory]
    [InlineData("{{ x | nosuchfilter }}", "unknown filter 'nosuchfilter'")]
    [InlineData("{{ x is nosuchtest }}", "unknown test 'nosuchtest'")]
    [InlineData("{% frobnicate %}", "unknown tag 'frobnicate'")]
    [InlineData("{% include 'x.j2' %}", "'include' tag is not supported")]
    [InlineData("{% break %}", "'break' is only allowed inside a 'for' loop")]
    [InlineData("{{ 'abc }}", "string literal starting here is never closed")]
    [InlineData("{# comment", "comment opened here is never closed")]
    [InlineData("{{ a $ b }}", "unexpected character '$'")]
    [InlineData("{% set x %}", "expected 'endset'")]
    [InlineData("{% for x y %}{% endfor %}", "expected 'in'")]
    [InlineData("{{ f(a=1, 2) }}", "positional argument cannot follow a keyword argument")]
    public void MalformedTemplates_GiveAClearMessage(string source, string expected)
    {
        var error = SyntaxError(source);

        Assert.Contains(expected, error.Message);
        Assert.NotNull(error.Line);
        Assert.NotNull(error.Column);
    }

    [Fact]
    public void DeepNesting_IsASyntaxErrorNotAStackOverflow()
    {
        var source = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";

        Assert.Contains("more than 200 levels", SyntaxError(source).Message);
    }

    [Fact]
    public void LongOperatorChains_AreBounded()
    {
        var source = "{{ 1" + string.Concat(Enumerable.Repeat(" + 1", 10_000)) + " }}";

        Assert.Contains("more than 200 levels", SyntaxError(source).Message);
    }

    [Fact]
    public void RuntimeErrors_CarryThePositionOfTheFailingExpression()
    {
        var error = Assert.Throws<TemplateRenderException>(() => Jinja.Render("ok\n{% for m in messages %}{{ m.content + 1 }}{% endfor %}",
            ("messages", new List<object?> { new Dictionary<string, object?> { ["content"] = "text" } })));

        Assert.Equal(2, error.Line);
        Assert.Contains("unsupported operand types for +: 'str' and 'int'", error.Message);
    }

    [Fact]
    public void IteratingNone_IsAnError() =>
        Assert.Contains("'NoneType' object is not iterable",
            Assert.Throws<TemplateRenderException>(() => Jinja.Render("{% for x in none %}{% endfor %}")).Message);

    [Fact]
    public void CallingAnUndefinedFunction_IsAnErrorNamingIt() =>
        Assert.Contains("'nosuch' is undefined",
            Assert.Throws<TemplateRenderException>(() => Jinja.Render("{{ nosuch() }}")).Message);

    [Fact]
    public void HugeRange_IsStoppedByTheIterationLimit()
    {
        var error = Assert.Throws<TemplateLimitExceededException>(() => Jinja.Render("{% for i in range(10**12) %}x{% endfor %}"));

        Assert.Equal(nameof(JinjaRenderLimits.MaxLoopIterations), error.LimitName);
    }

    [Fact]
    public void NestedLoops_AreStoppedByTheIterationLimit()
    {
        var options = new JinjaRenderOptions { Limits = new JinjaRenderLimits { MaxLoopIterations = 10_000 } };

        Assert.Throws<TemplateLimitExceededException>(() =>
            JinjaTemplate.Parse("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}").Render(new Dictionary<string, object?>(), options));
    }

    [Fact]
    public void HugeOutput_IsStoppedByTheOutputLimit()
    {
        var options = new JinjaRenderOptions { Limits = new JinjaRenderLimits { MaxOutputLength = 1000 } };

        var error = Assert.Throws<TemplateLimitExceededException>(() =>
            JinjaTemplate.Parse("{% for i in range(100) %}{{ 'x' * 100 }}{% endfor %}").Render(new Dictionary<string, object?>(), options));

        Assert.Equal(nameof(JinjaRenderLimits.MaxOutputLength), error.LimitName);
    }

    [Fact]
    public void HugeStringRepetition_IsStoppedBeforeAllocating() =>
        Assert.Throws<TemplateLimitExceededException>(() => Jinja.Render("{{ 'x' * 10**12 }}"));

    [Fact]
    public void RunawayMacroRecursion_IsStoppedByTheCallDepthLimit()
    {
        var error = Assert.Throws<TemplateLimitExceededException>(() => Jinja.Render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"));

        Assert.Equal(nameof(JinjaRenderLimits.MaxCallDepth), error.LimitName);
    }
}
