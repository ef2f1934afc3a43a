using System.Text.Json;
using Tessera.Generation.Constraints;
using Tessera.Generation.Tests.Constraints;
using Tessera.Generation.Tools;

namespace Tessera.Generation.Tests.Tools;

/// <summary>The grammar that forces a tool call: exactly the calls the format's parser reads back, and nothing else.</summary>
public sealed class ToolCallGrammarTests
{
    private static readonly ToolDefinition Weather = new("get_weather", null,
        JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}""").RootElement);
    private static readonly ToolDefinition Time = new("get_time");
    private static readonly ChatTools Tools = new([Weather, Time], ToolChoice.Required);

    [Theory]
    [InlineData("hermes")]
    [InlineData("llama3")]
    [InlineData("mistral")]
    [InlineData("generic")]
    public void Required_AcceptsACallOfEachTool_InTheFormat_AndTheParserReadsItBack(string name)
    {
        var format = new[] { ToolCallFormat.Hermes, ToolCallFormat.Llama3, ToolCallFormat.Mistral, ToolCallFormat.Generic }.Single(f => f.Name == name);
        var grammar = ByteGrammar.Compile(ToolCallGrammar.For(Tools, format)!);
        var weather = format.ForcedCallEnvelope("get_weather");
        var time = format.ForcedCallEnvelope("get_time");

        var call = weather.Before + """{"city": "Paris"}""" + weather.After;
        Assert.True(ByteGrammar.Matches(grammar, call), call);
        Assert.True(ByteGrammar.Matches(grammar, time.Before + "{}" + time.After));
        Assert.Equal("get_weather", Assert.Single(format.Parse(call, Tools).Calls).Name);

        Assert.False(ByteGrammar.IsPrefix(grammar, "Sure"));
        Assert.False(ByteGrammar.Matches(grammar, weather.Before + """{"town": "Paris"}""" + weather.After));
        Assert.False(ByteGrammar.Matches(grammar, format.ForcedCallEnvelope("delete_all").Before + "{}" + weather.After));
    }

    [Fact]
    public void NamedFunction_AcceptsOnlyThatTool()
    {
        var named = Tools with { Choice = ToolChoice.Function("get_time") };
        var grammar = ByteGrammar.Compile(ToolCallGrammar.For(named, ToolCallFormat.Hermes)!);
        var weather = ToolCallFormat.Hermes.ForcedCallEnvelope("get_weather");
        var time = ToolCallFormat.Hermes.ForcedCallEnvelope("get_time");

        Assert.True(ByteGrammar.Matches(grammar, time.Before + "{}" + time.After));
        Assert.False(ByteGrammar.Matches(grammar, weather.Before + """{"city": "Paris"}""" + weather.After));
    }

    [Fact]
    public void AutoAndNone_NeedNoGrammar()
    {
        Assert.Null(ToolCallGrammar.For(Tools with { Choice = ToolChoice.Auto }, ToolCallFormat.Hermes));
        Assert.Null(ToolCallGrammar.For(Tools with { Choice = ToolChoice.None }, ToolCallFormat.Hermes));
    }

    [Fact]
    public void AStrictToolWithAnUnenforceableSchema_IsRefused_ALenientOneIsNot()
    {
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]+$"}}}""").RootElement;
        var tool = new ToolDefinition("lookup", null, schema);

        Assert.NotNull(ToolCallGrammar.For(new ChatTools([tool], ToolChoice.Required), ToolCallFormat.Hermes));
        Assert.Throws<UnsupportedSchemaException>(() => ToolCallGrammar.For(new ChatTools([tool with { Strict = true }], ToolChoice.Required), ToolCallFormat.Hermes));
    }
}
