using System.Text;
using System.Text.Json;
using Tessera.Generation.Tools;
using Tessera.Testing;

namespace Tessera.Generation.Tests.Tools;

/// <summary>Reading tool calls out of replies, one format at a time, with the exact structures expected.</summary>
public sealed class ToolCallFormatTests
{
    private static readonly ToolDefinition Weather = new("get_weather", "Get the weather", JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}}}""").RootElement);
    private static readonly ToolDefinition Time = new("get_time");
    private static readonly ChatTools Auto = new([Weather, Time], ToolChoice.Auto);

    private static (string Name, string Arguments)[] Calls(ToolCallOutput output) => output.Calls.Select(c => (c.Name, c.Arguments)).ToArray();

    [Theory]
    [InlineData("meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3")]
    [InlineData("Qwen-Qwen2.5-7B-Instruct.jinja", "hermes")]
    [InlineData("mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral")]
    [InlineData("microsoft-Phi-3.5-mini-instruct.jinja", "generic")]
    [InlineData("google-gemma-2-2b-it.jinja", "generic")]
    public void Detect_ReadsTheFormatFromTheRealTemplate(string file, string expected)
    {
        var source = File.ReadAllText(TestPaths.ChatTemplate(file));

        Assert.Equal(expected, ToolCallFormat.Detect(source).Name);
    }

    [Fact]
    public void Detect_WithoutATemplate_IsGeneric() => Assert.Same(ToolCallFormat.Generic, ToolCallFormat.Detect(null));

    // ---------------- Hermes / Qwen 2.5 ----------------

    [Fact]
    public void Hermes_SingleCall_IsReadWithNullContentAndAFreshId()
    {
        var output = ToolCallFormat.Hermes.Parse("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", Auto);

        Assert.Null(output.Content);
        Assert.Equal([("get_weather", """{"city": "Paris"}""")], Calls(output));
        Assert.Matches("^call_[A-Za-z0-9]{24}$", output.Calls[0].Id);
    }

    [Fact]
    public void Hermes_ParallelCalls_AreAllRead_InOrder_WithDistinctIds()
    {
        const string reply = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n" +
                             "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";

        var output = ToolCallFormat.Hermes.Parse(reply, Auto);

        Assert.Equal([("get_weather", """{"city": "Paris"}"""), ("get_time", "{}")], Calls(output));
        Assert.NotEqual(output.Calls[0].Id, output.Calls[1].Id);
    }

    [Fact]
    public void Hermes_TextBeforeACall_IsTheContent()
    {
        var output = ToolCallFormat.Hermes.Parse("Let me check.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>", Auto);

        Assert.Equal("Let me check.", output.Content);
        Assert.Equal([("get_time", "{}")], Calls(output));
    }

    [Fact]
    public void Hermes_CallWithoutClosingTagAtTheEnd_IsRead()
    {
        var output = ToolCallFormat.Hermes.Parse("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}", Auto);

        Assert.Equal([("get_time", "{}")], Calls(output));
    }

    [Theory]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"\n</tool_call>")] // unclosed object
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {city: Paris}}\n</tool_call>")] // not JSON
    [InlineData("<tool_call>\n{\"arguments\": {}}\n</tool_call>")] // no name
    [InlineData("<tool_call>\n{\"name\": \"delete_everything\", \"arguments\": {}}\n</tool_call>")] // not an offered tool
    public void Hermes_MalformedOrUnknownCalls_StayContent(string reply)
    {
        var output = ToolCallFormat.Hermes.Parse(reply, Auto);

        Assert.Equal(reply, output.Content);
        Assert.Empty(output.Calls);
    }

    [Fact]
    public void ParallelCallsOff_KeepsOnlyTheFirstCall()
    {
        const string reply = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n" +
                             "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";

        var output = ToolCallFormat.Hermes.Parse(reply, Auto with { ParallelCalls = false });

        Assert.Equal([("get_weather", """{"city": "Paris"}""")], Calls(output));
    }

    [Fact]
    public void ToolChoiceNone_NeverReadsCalls()
    {
        const string reply = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";

        var output = ToolCallFormat.Hermes.Parse(reply, Auto with { Choice = ToolChoice.None });

        Assert.Equal(reply, output.Content);
        Assert.Empty(output.Calls);
    }

    [Fact]
    public void NamedToolChoice_CountsOnlyCallsOfThatTool()
    {
        const string reply = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";

        Assert.Empty(ToolCallFormat.Hermes.Parse(reply, Auto with { Choice = ToolChoice.Function("get_weather") }).Calls);
        Assert.Single(ToolCallFormat.Hermes.Parse(reply, Auto with { Choice = ToolChoice.Function("get_time") }).Calls);
    }

    // ---------------- Llama 3.1 ----------------

    [Fact]
    public void Llama3_BareJsonCall_IsRead_WithParametersAsArguments()
    {
        var output = ToolCallFormat.Llama3.Parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", Auto);

        Assert.Null(output.Content);
        Assert.Equal([("get_weather", """{"city": "Paris"}""")], Calls(output));
        Assert.StartsWith("call_", output.Calls[0].Id);
    }

    [Fact]
    public void Llama3_PythonTagText_AndTextBeforeIt()
    {
        var output = ToolCallFormat.Llama3.Parse("Checking.<|python_tag|>{\"name\": \"get_time\", \"parameters\": {}}", Auto);

        Assert.Equal("Checking.", output.Content);
        Assert.Equal([("get_time", "{}")], Calls(output));
    }

    [Fact]
    public void Llama3_SeveralCallsSeparatedBySemicolons_AreParallelCalls()
    {
        var output = ToolCallFormat.Llama3.Parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}; {\"name\": \"get_time\", \"parameters\": {}}", Auto);

        Assert.Equal([("get_weather", """{"city": "Oslo"}"""), ("get_time", "{}")], Calls(output));
    }

    [Theory]
    [InlineData("The answer is {\"name\": \"get_time\", \"parameters\": {}}")] // JSON in prose is not a call
    [InlineData("{\"name\": \"get_time\", \"parameters\": {")]
    [InlineData("{\"greeting\": \"hello\"}")]
    public void Llama3_ProseOrMalformedJson_StaysContent(string reply)
    {
        var output = ToolCallFormat.Llama3.Parse(reply, Auto);

        Assert.Equal(reply, output.Content);
        Assert.Empty(output.Calls);
    }

    // ---------------- Mistral ----------------

    [Fact]
    public void Mistral_CallsWithTheirOwnIds_KeepThem()
    {
        var output = ToolCallFormat.Mistral.Parse("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}, \"id\": \"a1B2c3D4e\"}, {\"name\": \"get_time\", \"arguments\": {}}]", Auto);

        Assert.Equal([("get_weather", """{"city": "Rome"}"""), ("get_time", "{}")], Calls(output));
        Assert.Equal("a1B2c3D4e", output.Calls[0].Id);
        Assert.Matches("^[A-Za-z0-9]{9}$", output.Calls[1].Id); // Mistral Nemo's template wants 9 alphanumerics
    }

    [Fact]
    public void Mistral_WithoutTheControlTokensText_IsReadFromTheArray()
    {
        var output = ToolCallFormat.Mistral.Parse("[{\"name\": \"get_time\", \"arguments\": {}}]", Auto);

        Assert.Null(output.Content);
        Assert.Equal([("get_time", "{}")], Calls(output));
    }

    [Fact]
    public void Mistral_TextBeforeTheMarker_AndMalformedArray()
    {
        var good = ToolCallFormat.Mistral.Parse("Sure. [TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]", Auto);
        Assert.Equal("Sure.", good.Content);
        Assert.Single(good.Calls);

        const string broken = "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}";
        Assert.Equal(broken, ToolCallFormat.Mistral.Parse(broken, Auto).Content);
    }

    // ---------------- Generic ----------------

    [Fact]
    public void Generic_ToolCallsObject_IsRead()
    {
        var output = ToolCallFormat.Generic.Parse("{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"}}, {\"name\": \"get_time\", \"arguments\": {}}]}", Auto);

        Assert.Null(output.Content);
        Assert.Equal([("get_weather", """{"city": "Lima"}"""), ("get_time", "{}")], Calls(output));
    }

    [Fact]
    public void Generic_SingleToolCall_AndCodeFence_AreRead()
    {
        var output = ToolCallFormat.Generic.Parse("```json\n{\"tool_call\": {\"name\": \"get_time\", \"arguments\": {}}}\n```", Auto);

        Assert.Equal([("get_time", "{}")], Calls(output));
    }

    [Fact]
    public void Generic_ResponseObject_IsUnwrappedIntoContent()
    {
        var output = ToolCallFormat.Generic.Parse("{\"response\": \"It is sunny.\"}", Auto);

        Assert.Equal("It is sunny.", output.Content);
        Assert.Empty(output.Calls);
    }

    [Theory]
    [InlineData("Plain words.")]
    [InlineData("{\"answer\": 42}")]
    [InlineData("{\"tool_calls\": [{\"name\": \"get_time\", \"arguments\": {}}")]
    public void Generic_OtherReplies_StayContent(string reply) => Assert.Equal(reply, ToolCallFormat.Generic.Parse(reply, Auto).Content);

    // ---------------- Forced calls (for the grammar) ----------------

    [Fact]
    public void ForcedCallEnvelopes_AreTheLiteralTextAroundTheArguments()
    {
        Assert.Equal(new ToolCallEnvelope("<tool_call>\n{\"name\": \"get_time\", \"arguments\": ", "}\n</tool_call>"), ToolCallFormat.Hermes.ForcedCallEnvelope("get_time"));
        Assert.Equal(new ToolCallEnvelope("{\"name\": \"get_time\", \"parameters\": ", "}"), ToolCallFormat.Llama3.ForcedCallEnvelope("get_time"));
        Assert.Equal(new ToolCallEnvelope("[{\"name\": \"get_time\", \"arguments\": ", "}]"), ToolCallFormat.Mistral.ForcedCallEnvelope("get_time"));
        Assert.Equal(new ToolCallEnvelope("{\"tool_calls\": [{\"name\": \"get_time\", \"arguments\": ", "}]}"), ToolCallFormat.Generic.ForcedCallEnvelope("get_time"));
    }

    [Fact]
    public void ForcedCalls_AreEveryToolForRequired_TheNamedOneForAFunction_AndNoneOtherwise()
    {
        var required = (Auto with { Choice = ToolChoice.Required }).ForcedCalls(ToolCallFormat.Hermes);
        Assert.Equal(["get_weather", "get_time"], required.Select(f => f.Tool.Name));
        Assert.Equal(ToolCallFormat.Hermes.ForcedCallEnvelope("get_time"), required[1].Envelope);

        var named = (Auto with { Choice = ToolChoice.Function("get_weather") }).ForcedCalls(ToolCallFormat.Llama3);
        Assert.Same(Weather, Assert.Single(named).Tool);

        Assert.Empty(Auto.ForcedCalls(ToolCallFormat.Hermes));
    }

    [Theory]
    [InlineData("hermes")]
    [InlineData("llama3")]
    [InlineData("mistral")]
    [InlineData("generic")]
    public void AForcedCall_ParsesBackIntoThatCall(string name)
    {
        var format = Formats.Single(f => f.Name == name);
        var envelope = format.ForcedCallEnvelope("get_weather");

        var output = format.Parse(envelope.Before + """{"city": "Paris"}""" + envelope.After, Auto);

        Assert.Equal([("get_weather", """{"city": "Paris"}""")], Calls(output));
        Assert.Null(output.Content);
    }

    // ---------------- Streaming ----------------

    public static TheoryData<string, string> Replies => new()
    {
        { "hermes", "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>" },
        { "hermes", "No tools needed: the answer is <tool_ (not a tag) and 4." },
        { "hermes", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {broken}}\n</tool_call>" },
        { "llama3", "{\"name\": \"get_time\", \"parameters\": {}}" },
        { "llama3", "Plain answer, then {\"name\": \"get_time\"}." },
        { "mistral", "[{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"abcdefghi\"}]" },
        { "generic", "{\"response\": \"Hello there.\"}" },
        { "generic", "  \n Just text  \n" },
    };

    [Theory]
    [MemberData(nameof(Replies))]
    public void Streaming_CharacterByCharacter_AgreesWithParsingTheWholeReply(string name, string reply)
    {
        var format = Formats.Single(f => f.Name == name);
        var whole = format.Parse(reply, Auto);
        var stream = new ToolCallStream(format, Auto);
        var sent = new StringBuilder();

        foreach (var c in reply)
            sent.Append(stream.Push(c.ToString()));
        var end = stream.Finish();
        sent.Append(end.Content);

        Assert.Equal(whole.Content ?? "", sent.ToString());
        Assert.Equal(Calls(whole), Calls(end));
    }

    [Fact]
    public void Streaming_SendsTextBeforeACallAtOnce_AndHoldsOnlyWhatMayStartAMarker()
    {
        var stream = new ToolCallStream(ToolCallFormat.Hermes, Auto);

        Assert.Equal("Let me", stream.Push("Let me"));
        Assert.Equal(" check.", stream.Push(" check.\n<tool")); // the newline and "<tool" may precede a call
        Assert.Equal("", stream.Push("_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
        var end = stream.Finish();

        Assert.Null(end.Content);
        Assert.Equal([("get_time", "{}")], Calls(end));
    }

    [Fact]
    public void Streaming_WithoutTools_PassesEverythingOn()
    {
        var stream = new ToolCallStream(ToolCallFormat.Hermes, Auto with { Choice = ToolChoice.None });

        Assert.Equal("<tool_call>", stream.Push("<tool_call>"));
        Assert.Empty(stream.Finish().Calls);
    }

    private static readonly ToolCallFormat[] Formats = [ToolCallFormat.Hermes, ToolCallFormat.Llama3, ToolCallFormat.Mistral, ToolCallFormat.Generic];
}
