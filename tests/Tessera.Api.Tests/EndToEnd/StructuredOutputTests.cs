using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Tessera.Api.Tests.EndToEnd;

/// <summary>
/// response_format through OpenAI's official client: the tiny model writes noise when free, so every valid document
/// below is the grammar's doing.
/// </summary>
[Collection(TinyModelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class StructuredOutputTests(TinyModelServer fixture)
{
    private const string Weather = """
        {"type": "object",
         "properties": {
           "city": {"enum": ["Paris", "Oslo", "Lima"]},
           "celsius": {"type": "integer", "minimum": -40, "maximum": 50},
           "sunny": {"type": "boolean"},
           "wind": {"anyOf": [{"type": "null"}, {"enum": ["calm", "breezy", "stormy"]}]}
         },
         "required": ["city", "celsius", "sunny", "wind"], "additionalProperties": false}
        """;

    private ChatClient Chat() => new(TinyModelServer.ModelId, new ApiKeyCredential(TinyModelServer.Key),
        new OpenAIClientOptions { Endpoint = fixture.V1, NetworkTimeout = TimeSpan.FromSeconds(60), RetryPolicy = new ClientRetryPolicy(0) });

    private static ChatMessage[] Ask => [new UserChatMessage("What is the weather? Answer in JSON.")];

    private static void AssertWeather(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(["city", "celsius", "sunny", "wind"], root.EnumerateObject().Select(p => p.Name));
        Assert.Contains(root.GetProperty("city").GetString(), new[] { "Paris", "Oslo", "Lima" });
        Assert.InRange(root.GetProperty("celsius").GetInt32(), -40, 50);
        Assert.True(root.GetProperty("sunny").ValueKind is JsonValueKind.True or JsonValueKind.False);
        var wind = root.GetProperty("wind");
        Assert.True(wind.ValueKind == JsonValueKind.Null || wind.GetString() is "calm" or "breezy" or "stormy");
    }

    [Theory]
    [InlineData(0f, 1L)]
    [InlineData(1f, 2L)]
    [InlineData(1.3f, 3L)]
    public async Task JsonSchema_TheAnswerFollowsTheSchema(float temperature, long seed)
    {
        var options = new ChatCompletionOptions
        {
            Temperature = temperature,
            Seed = seed,
            MaxOutputTokenCount = 200,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("weather", BinaryData.FromString(Weather), jsonSchemaIsStrict: true),
        };
        ChatCompletion completion = await Chat().CompleteChatAsync(Ask, options);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        AssertWeather(completion.Content[0].Text);
    }

    [Fact]
    public async Task JsonSchema_Streaming_GivesTheSameTextAsWhole()
    {
        var options = new ChatCompletionOptions
        {
            Temperature = 0.9f,
            Seed = 11,
            MaxOutputTokenCount = 200,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("weather", BinaryData.FromString(Weather), jsonSchemaIsStrict: true),
        };
        var chat = Chat();
        ChatCompletion whole = await chat.CompleteChatAsync(Ask, options);
        var streamed = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync(Ask, options))
        {
            foreach (var part in update.ContentUpdate)
                streamed.Append(part.Text);
        }
        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        AssertWeather(streamed.ToString());
    }

    [Fact]
    public async Task JsonObject_GivesAnObjectOrAPrefixOfOne()
    {
        var options = new ChatCompletionOptions { Temperature = 1, Seed = 4, MaxOutputTokenCount = 60, ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() };
        ChatCompletion completion = await Chat().CompleteChatAsync(Ask, options);
        var text = completion.Content[0].Text.TrimStart();
        Assert.StartsWith("{", text);
        if (completion.FinishReason == ChatFinishReason.Stop)
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(text).RootElement.ValueKind);
    }

    [Theory]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"^a"}}}""", "'pattern' is not supported", "response_format.json_schema.schema")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"n":{"type":"number","maximum":3}}}}}""", "$.properties.n.maximum", "response_format.json_schema.schema")]
    [InlineData("""{"type":"json_schema","json_schema":{"schema":{"type":"string"}}}""", "name must be", "response_format.json_schema.name")]
    [InlineData("""{"type":"xml"}""", "'xml' is not supported", "response_format.type")]
    [InlineData("\"json\"", "must be an object", "response_format")]
    public async Task UnsupportedFormats_Are400sNamingTheFeature(string format, string message, string param)
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TinyModelServer.Key);
        var body = $$"""{"model":"{{TinyModelServer.ModelId}}","messages":[{"role":"user","content":"hi"}],"response_format":{{format}}}""";
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains(message, error.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(param, error.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task LlamaCppGrammarField_ConstrainsCompletions()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TinyModelServer.Key);
        var body = $$"""{"model":"{{TinyModelServer.ModelId}}","prompt":"The answer:","max_tokens":30,"temperature":1,"seed":3,"grammar":"root ::= (\"yes\" | \"no\") \", \" [0-9]{1,2}"}""";
        using var response = await http.PostAsync("/v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = doc.RootElement.GetProperty("choices")[0];
        Assert.Matches("^(yes|no), [0-9]{1,2}$", choice.GetProperty("text").GetString()!.TrimStart());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());

        var bad = $$"""{"model":"{{TinyModelServer.ModelId}}","prompt":"x","grammar":"root ::= (\"a\""}""";
        using var refused = await http.PostAsync("/v1/completions", new StringContent(bad, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("GBNF syntax error", await refused.Content.ReadAsStringAsync());
    }
}
