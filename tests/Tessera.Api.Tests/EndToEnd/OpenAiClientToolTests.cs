using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using OpenAI;
using OpenAI.Chat;

namespace Tessera.Api.Tests.EndToEnd;

/// <summary>
/// Tool calling through OpenAI's official .NET client against the tiny model. Its random weights never call a tool by
/// choice, so these check what is real here: requests with tools are accepted and answered, a conversation with a call
/// and its result goes through the chat template (tiny-a has none of its own: the generic format's rewriting), and
/// malformed tool requests are 400s through the client. Reading calls out of replies is tested on exact replies in
/// Tessera.Generation.Tests and over HTTP with scripted replies.
/// </summary>
[Collection(TinyModelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class OpenAiClientToolTests(TinyModelServer fixture)
{
    private ChatClient Chat() => new(TinyModelServer.ModelId, new ApiKeyCredential(TinyModelServer.Key),
        new OpenAIClientOptions { Endpoint = fixture.V1, NetworkTimeout = TimeSpan.FromSeconds(30), RetryPolicy = new ClientRetryPolicy(0) });

    private static ChatTool Weather => ChatTool.CreateFunctionTool("get_weather", "Get the weather in a city",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));

    private static ChatCompletionOptions WithTools(ChatToolChoice choice, int maxTokens = 12)
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = maxTokens, Seed = 1, ToolChoice = choice };
        options.Tools.Add(Weather);
        return options;
    }

    private static readonly ChatMessage[] Question = [new UserChatMessage("What is the weather in Paris?")];

    [Fact]
    public async Task ChatWithTools_AutoChoice_IsAnsweredWithAValidCompletion()
    {
        ChatCompletion completion = await Chat().CompleteChatAsync(Question, WithTools(ChatToolChoice.CreateAutoChoice()));

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length, ChatFinishReason.ToolCalls });
        Assert.Equal(completion.FinishReason == ChatFinishReason.ToolCalls, completion.ToolCalls.Count > 0);
        Assert.All(completion.ToolCalls, c => Assert.Equal("get_weather", c.FunctionName));
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);
        // The generic format's system message describes the tool: the prompt is longer than the question alone.
        ChatCompletion plain = await Chat().CompleteChatAsync(Question, new ChatCompletionOptions { MaxOutputTokenCount = 1 });
        Assert.True(completion.Usage.InputTokenCount > plain.Usage.InputTokenCount + 50, $"{completion.Usage.InputTokenCount} vs {plain.Usage.InputTokenCount}");
    }

    [Fact]
    public async Task StreamingChatWithTools_AgreesWithNonStreaming()
    {
        var chat = Chat();
        ChatCompletion whole = await chat.CompleteChatAsync(Question, WithTools(ChatToolChoice.CreateRequiredChoice(), 16));
        var text = new StringBuilder();
        var calls = new List<string>();
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(Question, WithTools(ChatToolChoice.CreateRequiredChoice(), 16)))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            calls.AddRange(update.ToolCallUpdates.Where(u => u.FunctionName is not null).Select(u => u.FunctionName));
            finish ??= update.FinishReason;
        }

        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, text.ToString());
        Assert.Equal(whole.ToolCalls.Select(c => c.FunctionName), calls);
        Assert.Equal(whole.FinishReason, finish);
    }

    [Fact]
    public async Task RequiredToolChoice_MakesEvenTheRandomModelCallTheTool()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 96, Seed = 1, ToolChoice = ChatToolChoice.CreateRequiredChoice() };
        options.Tools.Add(ChatTool.CreateFunctionTool("set_unit", "Choose the temperature unit",
            BinaryData.FromString("""{"type":"object","properties":{"unit":{"enum":["celsius","fahrenheit"]}},"required":["unit"],"additionalProperties":false}""")));

        ChatCompletion completion = await Chat().CompleteChatAsync(Question, options);

        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("set_unit", call.FunctionName);
        Assert.StartsWith("call_", call.Id);
        using var arguments = System.Text.Json.JsonDocument.Parse(call.FunctionArguments);
        Assert.Contains(arguments.RootElement.GetProperty("unit").GetString(), new[] { "celsius", "fahrenheit" });
    }

    [Fact]
    public async Task AConversationWithACallAndItsResult_GoesThroughTheTemplate()
    {
        ChatMessage[] conversation =
        [
            new UserChatMessage("What is the weather in Paris?"),
            new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall("call_1", "get_weather", BinaryData.FromString("""{"city":"Paris"}"""))]),
            new ToolChatMessage("call_1", "20 degrees and sunny"),
        ];

        ChatCompletion completion = await Chat().CompleteChatAsync(conversation, WithTools(ChatToolChoice.CreateAutoChoice()));
        ChatCompletion question = await Chat().CompleteChatAsync(Question, WithTools(ChatToolChoice.CreateAutoChoice()));

        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length, ChatFinishReason.ToolCalls });
        // The call and the result are in the prompt, as text the generic format writes for them.
        Assert.True(completion.Usage.InputTokenCount > question.Usage.InputTokenCount + 15, $"{completion.Usage.InputTokenCount} vs {question.Usage.InputTokenCount}");
    }

    [Fact]
    public async Task ToolChoiceNamingAnUnknownFunction_Is400ThroughTheClient()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync(Question, WithTools(ChatToolChoice.CreateFunctionChoice("get_time"))));

        Assert.Equal(400, error.Status);
        Assert.Contains("tool_choice.function.name", error.Message);
    }

    [Fact]
    public async Task AToolResultWithoutItsCall_Is400ThroughTheClient()
    {
        ChatMessage[] conversation = [new UserChatMessage("Hi"), new ToolChatMessage("call_404", "result")];

        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync(conversation, WithTools(ChatToolChoice.CreateAutoChoice())));

        Assert.Equal(400, error.Status);
        Assert.Contains("messages[1].tool_call_id", error.Message);
    }

    [Fact]
    public async Task DuplicateToolNames_Are400ThroughTheClient()
    {
        var options = WithTools(ChatToolChoice.CreateAutoChoice());
        options.Tools.Add(Weather);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync(Question, options));

        Assert.Equal(400, error.Status);
        Assert.Contains("tools[1].function.name", error.Message);
    }
}
