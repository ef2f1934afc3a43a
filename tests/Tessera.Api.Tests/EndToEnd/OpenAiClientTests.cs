using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;

namespace Tessera.Api.Tests.EndToEnd;

/// <summary>The real model behind the real server, driven by OpenAI's official .NET client library.</summary>
[Collection(TinyModelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class OpenAiClientTests(TinyModelServer fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private OpenAIClientOptions Options => new() { Endpoint = fixture.V1, NetworkTimeout = Patience, RetryPolicy = new ClientRetryPolicy(0) };

    private ChatClient Chat() => new(TinyModelServer.ModelId, new ApiKeyCredential(TinyModelServer.Key), Options);

    private static ChatMessage[] Hello => [new SystemChatMessage("You are terse."), new UserChatMessage("Say hello.")];

    private static ChatCompletionOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens, Seed = 1 };

    [Fact]
    public async Task ListModels_ShowsTheServedModel()
    {
        var models = new OpenAIModelClient(new ApiKeyCredential(TinyModelServer.Key), Options);
        var list = (await models.GetModelsAsync()).Value;
        Assert.Equal(TinyModelServer.ModelId, Assert.Single(list).Id);
        Assert.Equal(TinyModelServer.ModelId, (await models.GetModelAsync(TinyModelServer.ModelId)).Value.Id);
    }

    [Fact]
    public async Task NonStreamingChat_ReturnsTextFinishReasonAndUsage()
    {
        ChatCompletion completion = await Chat().CompleteChatAsync(Hello, Greedy(12));
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.False(string.IsNullOrEmpty(completion.Content[0].Text));
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task StreamingChat_GreedyText_EqualsNonStreamingText()
    {
        var chat = Chat();
        ChatCompletion whole = await chat.CompleteChatAsync(Hello, Greedy(16));
        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(Hello, Greedy(16)))
        {
            foreach (var part in update.ContentUpdate)
                streamed.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage); // the client asks for include_usage
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
    }

    [Fact]
    public async Task ChatLogprobs_AreReportedPerToken()
    {
        var options = Greedy(6);
        options.IncludeLogProbabilities = true;
        options.TopLogProbabilityCount = 3;
        ChatCompletion completion = await Chat().CompleteChatAsync(Hello, options);
        var tokens = completion.ContentTokenLogProbabilities;
        Assert.NotEmpty(tokens);
        Assert.Equal(completion.Content[0].Text, string.Concat(tokens.Select(t => t.Token)));
        foreach (var token in tokens)
        {
            Assert.InRange(token.LogProbability, -50f, 0f);
            Assert.Equal(3, token.TopLogProbabilities.Count);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(token.LogProbability, token.TopLogProbabilities[0].LogProbability, 4);
        }
    }

    [Fact]
    public async Task ATokenIdOutsideTheVocabulary_Is400_AndAStreamRunningBesideItIsUntouched()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TinyModelServer.Key);
        var reference = await http.PostAsync("v1/completions", Json(new { model = TinyModelServer.ModelId, prompt = "The quick brown fox", max_tokens = 24, temperature = 0 }));
        var expected = JsonDocument.Parse(await reference.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0].GetProperty("text").GetString();

        // a stream runs while bad requests arrive: before, an id past the embedding failed every session batched with it
        var running = http.PostAsync("v1/completions", Json(new { model = TinyModelServer.ModelId, prompt = "The quick brown fox", max_tokens = 24, temperature = 0 }));
        for (var i = 0; i < 3; i++)
        {
            var bad = await http.PostAsync("v1/completions", Json(new { model = TinyModelServer.ModelId, prompt = new[] { 1, 450, 32000 + i }, max_tokens = 4 }));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("outside the model's vocabulary", await bad.Content.ReadAsStringAsync());
        }

        var ran = await running;
        ran.EnsureSuccessStatusCode();
        Assert.Equal(expected, JsonDocument.Parse(await ran.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Completions_WithLogprobs_MatchLlamaCppsGreedyStart()
    {
        // The client library keeps its legacy completions client internal: plain HTTP here.
        using var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TinyModelServer.Key);
        var response = await http.PostAsync("v1/completions", Json(new { model = TinyModelServer.ModelId, prompt = "The quick brown fox", max_tokens = 4, temperature = 0, logprobs = 2 }));
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = doc.RootElement.GetProperty("choices")[0];
        var logprobs = choice.GetProperty("logprobs");
        var tokens = logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Equal(4, tokens.Count);
        Assert.Equal(choice.GetProperty("text").GetString(), string.Concat(tokens));
        // llama.cpp's reference for tiny-a-q8_0: greedy "Ne", "ög", "ʹ", "ʹ" with log-probability -1.7035 first.
        Assert.Equal(["Ne", "ög", "ʹ", "ʹ"], tokens);
        Assert.Equal(-1.7035, logprobs.GetProperty("token_logprobs")[0].GetDouble(), 2);
        Assert.Equal(2, logprobs.GetProperty("top_logprobs")[0].EnumerateObject().Count());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task FourConcurrentStreamingClients_AllComplete()
    {
        var chat = Chat();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var texts = await Task.WhenAll(Enumerable.Range(0, 4).Select(async i =>
        {
            var text = new StringBuilder();
            ChatFinishReason? finish = null;
            var options = new ChatCompletionOptions { Temperature = 0.8f, Seed = i, MaxOutputTokenCount = 24 };
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage($"Story number {i}")], options))
            {
                foreach (var part in update.ContentUpdate)
                    text.Append(part.Text);
                finish ??= update.FinishReason;
            }
            Assert.NotNull(finish);
            return text.ToString();
        }));
        Assert.All(texts, t => Assert.False(string.IsNullOrEmpty(t)));
        Assert.True(started.Elapsed < Patience);
    }

    [Fact]
    public async Task ClientCancellingMidStream_FreesTheSession_AndTheNextRequestSucceeds()
    {
        var chat = Chat();
        using var cancel = new CancellationTokenSource();
        var received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Tell me a very long story.")],
                new ChatCompletionOptions { Temperature = 0.9f, MaxOutputTokenCount = 400 }, cancel.Token))
            {
                if (update.ContentUpdate.Count > 0 && ++received == 3)
                    await cancel.CancelAsync();
            }
        });
        Assert.Equal(3, received);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (fixture.Service.ActiveSessions + fixture.Service.QueuedSessions > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(0, fixture.Service.ActiveSessions + fixture.Service.QueuedSessions);

        var next = System.Diagnostics.Stopwatch.StartNew();
        ChatCompletion completion = await chat.CompleteChatAsync(Hello, Greedy(4));
        Assert.False(string.IsNullOrEmpty(completion.Content[0].Text));
        Assert.True(next.Elapsed < TimeSpan.FromSeconds(10), $"the next request took {next.Elapsed}");
    }

    [Fact]
    public async Task WrongKey_IsAnAuthenticationErrorInTheClient()
    {
        var chat = new ChatClient(TinyModelServer.ModelId, new ApiKeyCredential("tsk_wrong"), Options);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(Hello, Greedy(2)));
        Assert.Equal(401, error.Status);
    }

    [Fact]
    public async Task RawHttp_ContextTooLong_UnknownModel_AndStopStrings()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TinyModelServer.Key);

        var longPrompt = string.Join(' ', Enumerable.Repeat("word", TinyModelServer.ContextLength + 50));
        var tooLong = await http.PostAsync("v1/completions", Json(new { model = TinyModelServer.ModelId, prompt = longPrompt }));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        using (var doc = JsonDocument.Parse(await tooLong.Content.ReadAsStringAsync()))
            Assert.Equal("context_length_exceeded", doc.RootElement.GetProperty("error").GetProperty("code").GetString());

        var unknown = await http.PostAsync("v1/chat/completions", Json(new { model = "nope", messages = new[] { new { role = "user", content = "hi" } } }));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        // Stop at the second greedy token's text: the answer is the first token's text only.
        var plain = await CompleteAsync(http, new { model = TinyModelServer.ModelId, prompt = "The quick brown fox", max_tokens = 4, temperature = 0 });
        var cut = await CompleteAsync(http, new { model = TinyModelServer.ModelId, prompt = "The quick brown fox", max_tokens = 4, temperature = 0, stop = new[] { "ög" } });
        Assert.StartsWith("Neög", plain.Text);
        Assert.Equal(("Ne", "stop"), cut);
    }

    private static async Task<(string Text, string Finish)> CompleteAsync(HttpClient http, object request)
    {
        var response = await http.PostAsync("v1/completions", Json(request));
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = doc.RootElement.GetProperty("choices")[0];
        return (choice.GetProperty("text").GetString()!, choice.GetProperty("finish_reason").GetString()!);
    }

    private static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");
}
