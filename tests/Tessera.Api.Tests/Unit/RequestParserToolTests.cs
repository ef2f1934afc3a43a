using System.Net;
using System.Text.Json;
using Tessera.Api.Protocol;
using Tessera.Generation.Tools;

namespace Tessera.Api.Tests.Unit;

/// <summary>tools, tool_choice, parallel_tool_calls and the tool fields of messages.</summary>
public sealed class RequestParserToolTests
{
    private const string User = """{"role":"user","content":"x"}""";
    private const string Weather = """{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object"},"strict":true}}""";
    private const string AssistantCall = """{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]}""";

    private static ParsedRequest Chat(string json) => RequestParser.ParseChat(JsonDocument.Parse(json).RootElement, new OpenAiApiOptions().DefaultSampling);

    [Fact]
    public void ToolsChoiceAndParallel_AreRead()
    {
        var r = Chat($$$"""{"model":"m","messages":[{{{User}}}],"tools":[{{{Weather}}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false}""");

        var tools = Assert.IsType<ChatTools>(r.Tools);
        var tool = Assert.Single(tools.Tools);
        Assert.Equal(("get_weather", "Weather", true), (tool.Name, tool.Description, tool.Strict));
        Assert.Equal("""{"type":"object"}""", tool.Parameters!.Value.GetRawText());
        Assert.Equal(ToolChoice.Function("get_weather"), tools.Choice);
        Assert.False(tools.ParallelCalls);
    }

    [Theory]
    [InlineData("\"auto\"", ToolChoiceMode.Auto)]
    [InlineData("\"none\"", ToolChoiceMode.None)]
    [InlineData("\"required\"", ToolChoiceMode.Required)]
    [InlineData("null", ToolChoiceMode.Auto)]
    public void ToolChoiceStrings_AreRead(string choice, ToolChoiceMode mode) =>
        Assert.Equal(mode, Chat($$$"""{"model":"m","messages":[{{{User}}}],"tools":[{{{Weather}}}],"tool_choice":{{{choice}}}}""").Tools!.Choice.Mode);

    [Fact]
    public void NoTools_OrAnEmptyList_IsNoTools()
    {
        Assert.Null(Chat($$$"""{"model":"m","messages":[{{{User}}}]}""").Tools);
        Assert.Null(Chat($$$"""{"model":"m","messages":[{{{User}}}],"tools":[],"tool_choice":"auto"}""").Tools);
    }

    [Fact]
    public void AssistantCallsAndToolResults_AreRead()
    {
        var r = Chat($$$"""{"model":"m","messages":[{{{User}}},{{{AssistantCall}}},{"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"sunny"}]}""");

        var messages = r.Messages!;
        Assert.Equal([new ToolCall("call_1", "get_weather", "{}")], messages[1].ToolCalls!);
        Assert.Equal("", messages[1].Content);
        Assert.Equal(("call_1", "get_weather", "sunny"), (messages[2].ToolCallId, messages[2].Name, messages[2].Content));
    }

    [Theory]
    [InlineData("""  "tools":{}  """, "tools")]
    [InlineData("""  "tools":[{"type":"code","function":{"name":"a"}}]  """, "tools[0].type")]
    [InlineData("""  "tools":[{"type":"function","function":{}}]  """, "tools[0].function.name")]
    [InlineData("""  "tools":[{"type":"function","function":{"name":"has space"}}]  """, "tools[0].function.name")]
    [InlineData("""  "tools":[{"type":"function","function":{"name":"a","parameters":"{}"}}]  """, "tools[0].function.parameters")]
    [InlineData("""  "tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"a"}}]  """, "tools[1].function.name")]
    [InlineData("""  "tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"always"  """, "tool_choice")]
    [InlineData("""  "tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function","function":{"name":"b"}}  """, "tool_choice.function.name")]
    [InlineData("""  "tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function"}  """, "tool_choice.function")]
    [InlineData("""  "tool_choice":"required"  """, "tool_choice")]
    [InlineData("""  "tools":[{"type":"function","function":{"name":"a"}}],"parallel_tool_calls":"yes"  """, "parallel_tool_calls")]
    public void MalformedTools_Are400NamingTheField(string fields, string param)
    {
        var error = Assert.Throws<OpenAiError>(() => Chat($$$"""{"model":"m","messages":[{{{User}}}],{{{fields}}}}"""));

        Assert.Equal(HttpStatusCode.BadRequest, error.Status);
        Assert.Equal(param, error.Param);
    }

    [Theory]
    [InlineData("""{"role":"user","content":"x","tool_calls":[]}""", "messages[1].tool_calls")]
    [InlineData("""{"role":"tool","content":"x"}""", "messages[1].tool_call_id")]
    [InlineData("""{"role":"tool","tool_call_id":"call_2","content":"x"}""", "messages[1].tool_call_id")]
    [InlineData("""{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"a","arguments":"{}"}}]}""", "messages[1].tool_calls[0].id")]
    [InlineData("""{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}""", "messages[1].tool_calls[0].function.name")]
    [InlineData("""{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"a","arguments":3}}]}""", "messages[1].tool_calls[0].function.arguments")]
    [InlineData("""{"role":"assistant","tool_calls":{"id":"c"}}""", "messages[1].tool_calls")]
    public void MalformedToolMessages_Are400NamingTheField(string message, string param)
    {
        var error = Assert.Throws<OpenAiError>(() => Chat($$$"""{"model":"m","messages":[{{{AssistantCall}}},{{{message}}}]}"""));

        Assert.Equal(HttpStatusCode.BadRequest, error.Status);
        Assert.Equal(param, error.Param);
    }
}
