namespace Tessera.Jinja.Tests;

/// <summary>Whitespace control: '-' and '+' markers, trim_blocks, lstrip_blocks, trailing newline.</summary>
public sealed class JinjaWhitespaceTests
{
    [Fact]
    public void PlainText_IsCopied() => Assert.Equal("Hello, world", Jinja.Render("Hello, world"));

    [Fact]
    public void DefaultOptions_KeepNewlinesAroundBlocks() =>
        Assert.Equal("a\n\nb\n", Jinja.Render("a\n{% if true %}\nb\n{% endif %}\n"));

    [Fact]
    public void SingleTrailingNewline_IsDropped() => Assert.Equal("x\n", Jinja.Render("x\n\n"));

    [Fact]
    public void MinusOnTheLeft_StripsAllWhitespaceBefore() =>
        Assert.Equal("a1", Jinja.Render("a \n\t {{- 1 }}"));

    [Fact]
    public void MinusOnTheRight_StripsAllWhitespaceAfter() =>
        Assert.Equal("1b", Jinja.Render("{{ 1 -}} \n\n b"));

    [Fact]
    public void MinusOnBothSidesOfBlocks_JoinsLines() =>
        Assert.Equal("ab", Jinja.Render("a\n  {%- if true -%}\n  b\n{%- endif -%}\n"));

    [Fact]
    public void CommentsRenderNothing_AndHonourMinus() =>
        Assert.Equal("ab", Jinja.Render("a {#- a comment -#} b"));

    [Fact]
    public void TrimBlocks_RemovesTheNewlineAfterABlockTag() =>
        Assert.Equal("b\n", Jinja.RenderHf("{% if true %}\nb\n{% endif %}\n"));

    [Fact]
    public void TrimBlocks_DoesNotApplyToExpressions() =>
        Assert.Equal("1\n2", Jinja.RenderHf("{{ 1 }}\n{{ 2 }}"));

    [Fact]
    public void LstripBlocks_RemovesIndentationBeforeABlockTag() =>
        Assert.Equal("x\n    y\n", Jinja.RenderHf("    {% if true %}\nx\n    {{ 'y' }}\n    {% endif %}\n"));

    [Fact]
    public void LstripBlocks_LeavesTextBeforeATagOnTheSameLine() =>
        Assert.Equal("a   b", Jinja.RenderHf("a   {% if true %}b{% endif %}"));

    [Fact]
    public void PlusMarker_DisablesLstripAndTrim() =>
        Assert.Equal("  \nx", Jinja.RenderHf("  {%+ if true +%}\nx{% endif %}"));

    [Fact]
    public void RawBlock_OutputsTagsVerbatim() =>
        Assert.Equal("{{ not evaluated }} {% if %}", Jinja.Render("{% raw %}{{ not evaluated }} {% if %}{% endraw %}"));

    [Fact]
    public void CarriageReturns_AreNormalisedToNewlines() =>
        Assert.Equal("a\nb", Jinja.Render("a\r\nb"));

    [Fact]
    public void BracesInsideExpressions_DoNotCloseTheTag() =>
        Assert.Equal("1", Jinja.Render("{{ {'a': {'b': 1}}['a']['b'] }}"));
}
