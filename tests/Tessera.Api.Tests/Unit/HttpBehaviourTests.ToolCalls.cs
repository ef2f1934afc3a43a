using System.Net;
using System.Text.Json;
using Tessera.Generation.Tools;

namespace Tessera.Api.Tests.Unit;

/// <summary>Tool calls over HTTP, with scripted replies in the Hermes (Qwen 2.5) format.</summary>
public sealed partial class HttpBehaviourTests
{
    private const string WithTools =
        """{"model":"fake","messages":[{"role":"user","content":"Weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]""";

    private static readonly string[] HermesCall =
        ["Let me check.", "\n<tool", "_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", ""];

    [Fact]
    public async Task NonStreamingChat_WithACall_AnswersToolCalls_WithTheTextAsContent_AndFinishToolCalls()
    {
        _service.ToolCallFormat = ToolCallFormat.Hermes;
        _service.Script = HermesCall;

        var response = await PostAsync("v1/chat/completions", WithTools + "}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = doc.RootElement.GetProperty("choices")[0];
        var message = choice.GetProperty("message");
        Assert.Equal("Let me check.", message.GetProperty("content").GetString());
        var call = Assert.Single(message.GetProperty("tool_calls").EnumerateArray());
        Assert.Matches("^call_[A-Za-z0-9]{24}$", call.GetProperty("id").GetString());
        Assert.Equal("function", call.GetProperty("type").GetString());
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("""{"city": "Paris"}""", call.GetProperty("function").GetProperty("arguments").GetString());
        Assert.False(call.TryGetProperty("index", out _));
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var tools = Assert.IsType<ChatTools>(_service.LastTools);
        Assert.Equal("get_weather", Assert.Single(tools.Offered).Name);
        Assert.Equal(ToolChoice.Auto, tools.Choice);
    }

    [Fact]
    public async Task NonStreamingChat_WithOnlyACall_HasNullContent()
    {
        _service.ToolCallFormat = ToolCallFormat.Hermes;
        _service.Script = HermesCall[1..];

        using var doc = JsonDocument.Parse(await (await PostAsync("v1/chat/completions", WithTools + "}")).Content.ReadAsStringAsync());

        var message = doc.RootElement.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(JsonValueKind.Null, message.GetProperty("content").ValueKind);
        Assert.Single(message.GetProperty("tool_calls").EnumerateArray());
    }

    [Fact]
    public async Task StreamingChat_WithACall_StreamsTheTextBefore_ThenToolCallDeltas_AsOpenAiDoes()
    {
        _service.ToolCallFormat = ToolCallFormat.Hermes;
        _service.Script = HermesCall;

        var chunks = await StreamAsync("v1/chat/completions", WithTools + ""","stream":true}""");

        var deltas = chunks.Select(c => c.GetProperty("choices")[0].GetProperty("delta")).ToList();
        var content = string.Concat(deltas.Select(d => d.TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal("Let me check.", content);
        var calls = deltas.Where(d => d.TryGetProperty("tool_calls", out _)).Select(d => Assert.Single(d.GetProperty("tool_calls").EnumerateArray())).ToList();
        Assert.Equal(2, calls.Count);
        Assert.Equal(0, calls[0].GetProperty("index").GetInt32());
        Assert.StartsWith("call_", calls[0].GetProperty("id").GetString());
        Assert.Equal("function", calls[0].GetProperty("type").GetString());
        Assert.Equal("get_weather", calls[0].GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("", calls[0].GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal(0, calls[1].GetProperty("index").GetInt32());
        Assert.False(calls[1].TryGetProperty("id", out _));
        Assert.Equal("""{"city": "Paris"}""", calls[1].GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal("tool_calls", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task ToolChoiceNone_AnswersTheSameReplyAsText()
    {
        _service.ToolCallFormat = ToolCallFormat.Hermes;
        _service.Script = HermesCall;

        using var doc = JsonDocument.Parse(await (await PostAsync("v1/chat/completions", WithTools + ""","tool_choice":"none"}""")).Content.ReadAsStringAsync());

        var choice = doc.RootElement.GetProperty("choices")[0];
        Assert.Equal(string.Concat(HermesCall), choice.GetProperty("message").GetProperty("content").GetString());
        Assert.False(choice.GetProperty("message").TryGetProperty("tool_calls", out _));
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Empty(_service.LastTools!.Offered);
    }

    [Fact]
    public async Task AConversationWithACallAndItsResult_ReachesTheTemplate()
    {
        const string conversation = """
            {"model":"fake","messages":[
              {"role":"user","content":"Weather in Paris?"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"20 C"}]}],
             "tools":[{"type":"function","function":{"name":"get_weather"}}]}
            """;

        Assert.Equal(HttpStatusCode.OK, (await PostAsync("v1/chat/completions", conversation)).StatusCode);

        var messages = _service.LastMessages!;
        Assert.Equal(new ToolCall("call_1", "get_weather", """{"city":"Paris"}"""), Assert.Single(messages[1].ToolCalls!));
        Assert.Equal("", messages[1].Content);
        Assert.Equal(("tool", "20 C", "call_1"), (messages[2].Role, messages[2].Content, messages[2].ToolCallId));
    }

    [Fact]
    public async Task RequiredToolChoice_ConstrainsDecodingToACallInTheModelsSyntax_AutoDoesNot()
    {
        _service.ToolCallFormat = ToolCallFormat.Hermes;

        Assert.Equal(HttpStatusCode.OK, (await PostAsync("v1/chat/completions", WithTools + ""","tool_choice":"required"}""")).StatusCode);
        Assert.Equal(ToolCallGrammar.For(_service.LastTools!, ToolCallFormat.Hermes), _service.LastOptions!.Grammar);
        Assert.Contains("<tool_call>", _service.LastOptions!.Grammar);

        Assert.Equal(HttpStatusCode.OK, (await PostAsync("v1/chat/completions", WithTools + ""","tool_choice":"auto"}""")).StatusCode);
        Assert.Null(_service.LastOptions!.Grammar);
    }

    [Fact]
    public async Task ForcedToolChoice_WithResponseFormat_Is400NamingToolChoice()
    {
        var response = await PostAsync("v1/chat/completions", WithTools + ""","tool_choice":"required","response_format":{"type":"json_object"}}""");

        var error = await ErrorOf(response, HttpStatusCode.BadRequest, null);
        Assert.Equal("tool_choice", error.GetProperty("param").GetString());
    }
}
