using System.Text.Json;
using Tessera.Api.Protocol;
using Tessera.Engine.Sampling;
using Tessera.Generation;

namespace Tessera.Api.Tests.Unit;

public sealed class RequestParserTests
{
    private static readonly SamplingParameters Defaults = new OpenAiApiOptions().DefaultSampling;

    private static ParsedRequest Chat(string json) => RequestParser.ParseChat(JsonDocument.Parse(json).RootElement, Defaults);

    private static ParsedRequest Completion(string json) => RequestParser.ParseCompletion(JsonDocument.Parse(json).RootElement, Defaults);

    private static OpenAiError ChatError(string json) => Assert.Throws<OpenAiError>(() => Chat(json));

    [Fact]
    public void Chat_ReadsEveryHonouredField()
    {
        var r = Chat("""
            {"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}]}],
             "max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"seed":-3,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true},
             "n":1,"presence_penalty":0.1,"frequency_penalty":0.2,"logprobs":true,"top_logprobs":3,"top_k":5,"min_p":0.1,"repetition_penalty":1.1,"user":"ignored"}
            """);
        Assert.Equal("m", r.Model);
        Assert.Equal(["system", "user"], r.Messages!.Select(m => m.Role));
        Assert.Equal("Hello", r.Messages![1].Content);
        Assert.Equal(7, r.MaxTokens);
        Assert.Equal(0.5f, r.Sampling.Temperature);
        Assert.Equal(0.9f, r.Sampling.TopP);
        Assert.Equal(unchecked((ulong)-3L), r.Sampling.Seed);
        Assert.Equal(["a", "b"], r.Stop);
        Assert.True(r.Stream);
        Assert.True(r.IncludeUsage);
        Assert.Equal(0.1f, r.Sampling.PresencePenalty);
        Assert.Equal(0.2f, r.Sampling.FrequencyPenalty);
        Assert.True(r.LogProbs);
        Assert.Equal(3, r.TopLogProbs);
        Assert.Equal(5, r.Sampling.TopK);
        Assert.Equal(0.1f, r.Sampling.MinP);
        Assert.Equal(1.1f, r.Sampling.RepetitionPenalty);
    }

    [Fact]
    public void IgnoreEos_IsOffUnlessAsked_AndAcceptedByBothEndpoints()
    {
        Assert.False(Completion("""{"model":"m","prompt":"x"}""").IgnoreEos);
        Assert.True(Completion("""{"model":"m","prompt":[1,2],"ignore_eos":true}""").IgnoreEos);
        Assert.True(Chat("""{"model":"m","messages":[{"role":"user","content":"x"}],"ignore_eos":true}""").IgnoreEos);
        Assert.Throws<OpenAiError>(() => Completion("""{"model":"m","prompt":"x","ignore_eos":"yes"}"""));
    }

    [Fact]
    public void Chat_MaxTokensAndStopString_AreAccepted_DeveloperRoleIsSystem()
    {
        var r = Chat("""{"model":"m","messages":[{"role":"developer","content":"x"}],"max_tokens":3,"stop":"\n"}""");
        Assert.Equal(3, r.MaxTokens);
        Assert.Equal(["\n"], r.Stop);
        Assert.Equal("system", r.Messages![0].Role);
        Assert.Null(Chat("""{"model":"m","messages":[{"role":"user","content":"x"}]}""").MaxTokens);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model")]
    [InlineData("""{"model":"m"}""", "messages")]
    [InlineData("""{"model":"m","messages":[]}""", "messages")]
    [InlineData("""{"model":"m","messages":"hi"}""", "messages")]
    [InlineData("""{"model":"m","messages":[{"content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"model":"m","messages":[{"role":"wizard","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}""", "n")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}""", "temperature")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", "temperature")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0}""", "top_p")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":5}""", "presence_penalty")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}""", "max_tokens")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}""", "stop")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}""", "stop")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2}""", "top_logprobs")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}""", "top_logprobs")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}""", "stream")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}""", "tools[0].function")]
    public void Chat_InvalidFields_Are400NamingTheField(string json, string param)
    {
        var error = ChatError(json);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, error.Status);
        Assert.Equal("invalid_request_error", error.Type);
        Assert.Equal(param, error.Param);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    // Found by RequestParserFuzzTests: the JSON reader accepts these, and reading them threw InvalidOperationException (a 500).
    // The bodies are Latin-1, so that 'ÿ' stands for the byte 0xFF, which is never valid UTF-8.
    [Theory]
    [InlineData("""{"model":"\ud800","messages":[{"role":"user","content":"x"}]}""", "model")]
    [InlineData("""{"model":"aÿ","messages":[{"role":"user","content":"x"}]}""", "model")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"a\udc00"}]}""", "messages[0].content")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"\ud83dx"}]}]}""", "messages[0].content[0].text")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x","\ud800":[1]}]}""", "messages[0]")]
    [InlineData("""{"\udc00x":4097,"model":"m","messages":[{"role":"user","content":"x"}]}""", null)]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["ok","ÿ"]}""", "stop[1]")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"user":"\udc00\ud800"}""", "user")]
    public void Text_ThatIsNotUnicode_AnywhereInTheBody_Is400NamingWhereItIs(string latin1Json, string? param)
    {
        var body = JsonDocument.Parse(System.Text.Encoding.Latin1.GetBytes(latin1Json)).RootElement;

        var error = Assert.Throws<OpenAiError>(() => RequestParser.ParseChat(body, Defaults));

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, error.Status);
        Assert.Equal(param, error.Param);
        Assert.Contains("not valid Unicode", error.Message);
        var prompt = JsonDocument.Parse("""{"model":"m","prompt":"\udc00"}""").RootElement;
        Assert.Equal("prompt", Assert.Throws<OpenAiError>(() => RequestParser.ParseCompletion(prompt, Defaults)).Param);
    }

    [Fact]
    public void Text_WithEscapedSurrogatePairsAndEscapedNames_IsRead()
    {
        var r = Chat("""{"mod\u0065l":"m","messages":[{"role":"user","content":"\ud83d\ude00 \u00e9"}]}""");

        Assert.Equal("m", r.Model);
        Assert.Equal("\U0001F600 \u00e9", r.Messages![0].Content);
    }

    // A float overflows at 3.4e38: 1e39 was accepted as an infinite repetition penalty.
    [Theory]
    [InlineData("\"repetition_penalty\":1e39", "repetition_penalty")]
    [InlineData("\"top_p\":1e400", "top_p")]
    [InlineData("\"temperature\":-1e400", "temperature")]
    [InlineData("\"max_tokens\":1e10", "max_tokens")]
    [InlineData("\"seed\":18446744073709551616", "seed")]
    public void Numbers_BeyondWhatTheFieldHolds_Are400NamingTheField(string field, string param)
    {
        var error = ChatError($$"""{"model":"m","messages":[{"role":"user","content":"x"}],{{field}}}""");

        Assert.Equal(param, error.Param);
        Assert.Contains(param, error.Message);
    }

    [Fact]
    public void Completion_EmptyNestedTokenList_Is400LikeAnEmptyOne()
    {
        Assert.Equal("prompt", Assert.Throws<OpenAiError>(() => Completion("""{"model":"m","prompt":[[]]}""")).Param);
        Assert.Equal("prompt", Assert.Throws<OpenAiError>(() => Completion("""{"model":"m","prompt":[]}""")).Param);
    }

    [Fact]
    public void Chat_BodyThatIsNotAnObject_Is400()
    {
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, ChatError("[1,2]").Status);
    }

    [Fact]
    public void Completion_PromptForms()
    {
        Assert.Equal("hi", Completion("""{"model":"m","prompt":"hi"}""").Prompt);
        Assert.Equal("hi", Completion("""{"model":"m","prompt":["hi"]}""").Prompt);
        Assert.Equal([1, 2, 3], Completion("""{"model":"m","prompt":[1,2,3]}""").PromptTokens!);
        Assert.Equal([4, 5], Completion("""{"model":"m","prompt":[[4,5]]}""").PromptTokens!);
        Assert.Equal("prompt", Assert.Throws<OpenAiError>(() => Completion("""{"model":"m","prompt":["a","b"]}""")).Param);
        Assert.Equal("prompt", Assert.Throws<OpenAiError>(() => Completion("""{"model":"m"}""")).Param);
    }

    [Fact]
    public void Completion_LogprobsIsTheNumberOfAlternatives()
    {
        var r = Completion("""{"model":"m","prompt":"x","logprobs":3,"max_tokens":4,"echo":true}""");
        Assert.True(r.LogProbs);
        Assert.Equal(3, r.TopLogProbs);
        Assert.Equal(4, r.MaxTokens);
        Assert.True(r.Echo);
        Assert.False(Completion("""{"model":"m","prompt":"x"}""").LogProbs);
        Assert.True(Completion("""{"model":"m","prompt":"x","logprobs":0}""").LogProbs);
        Assert.Equal("logprobs", Assert.Throws<OpenAiError>(() => Completion("""{"model":"m","prompt":"x","logprobs":30}""")).Param);
    }

    [Fact]
    public void NoSeed_GivesARandomSeed_DefaultsComeFromOptions()
    {
        var a = Completion("""{"model":"m","prompt":"x"}""");
        var b = Completion("""{"model":"m","prompt":"x"}""");
        Assert.NotEqual(a.Sampling.Seed, b.Sampling.Seed);
        Assert.Equal(Defaults.Temperature, a.Sampling.Temperature);
        Assert.Equal(0f, Completion("""{"model":"m","prompt":"x","temperature":0}""").Sampling.Temperature);
    }
}
