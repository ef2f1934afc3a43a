using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Embeddings;

namespace Tessera.Api.Tests.EndToEnd;

/// <summary>POST /v1/embeddings on tiny-a, through OpenAI's official .NET client and raw HTTP.</summary>
[Collection(TinyModelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class EmbeddingsTests(TinyModelServer fixture)
{
    private static readonly string[] Texts = ["The quick brown fox", "Hello world!", "1, 2, 3, 4, 5, 6, 7, 8"];

    private EmbeddingClient Client() => new(TinyModelServer.ModelId, new ApiKeyCredential(TinyModelServer.Key),
        new OpenAIClientOptions { Endpoint = fixture.V1, NetworkTimeout = TimeSpan.FromSeconds(30), RetryPolicy = new ClientRetryPolicy(0) });

    private HttpClient Http()
    {
        var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TinyModelServer.Key);
        return http;
    }

    private static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    private static async Task<JsonElement> PostAsync(HttpClient http, object body, HttpStatusCode status = HttpStatusCode.OK)
    {
        var response = await http.PostAsync("v1/embeddings", Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    [Fact]
    public async Task SeveralInputs_ComeBackInOrder_WithUnitVectorsOfTheModelsWidth_AndUsage()
    {
        OpenAIEmbeddingCollection result = await Client().GenerateEmbeddingsAsync(Texts);

        Assert.Equal(Texts.Length, result.Count);
        var width = result[0].ToFloats().Length;
        Assert.True(width > 1);
        for (var i = 0; i < Texts.Length; i++)
        {
            Assert.Equal(i, result[i].Index);
            var v = result[i].ToFloats().ToArray();
            Assert.Equal(width, v.Length);
            Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 5);
            // In order: each equals the vector of its input alone.
            OpenAIEmbedding alone = await Client().GenerateEmbeddingAsync(Texts[i]);
            Assert.Equal(alone.ToFloats().ToArray(), v);
        }
        var tokens = Texts.Sum(t => fixture.Service.TokenizePrompt(TinyModelServer.ModelId, t).Length);
        Assert.Equal(tokens, result.Usage.InputTokenCount);
        Assert.Equal(tokens, result.Usage.TotalTokenCount);
        Assert.Equal(TinyModelServer.ModelId, result.Model);
    }

    [Fact]
    public async Task FloatAndBase64_CarryTheSameNumbers_InOpenAisShape()
    {
        using var http = Http();
        var asFloats = await PostAsync(http, new { model = TinyModelServer.ModelId, input = Texts, encoding_format = "float" });
        var asBase64 = await PostAsync(http, new { model = TinyModelServer.ModelId, input = Texts, encoding_format = "base64" });

        Assert.Equal("list", asFloats.GetProperty("object").GetString());
        Assert.Equal(TinyModelServer.ModelId, asFloats.GetProperty("model").GetString());
        var usage = asFloats.GetProperty("usage");
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32());
        var floats = asFloats.GetProperty("data").EnumerateArray().ToList();
        var encoded = asBase64.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(Texts.Length, floats.Count);
        for (var i = 0; i < floats.Count; i++)
        {
            Assert.Equal("embedding", floats[i].GetProperty("object").GetString());
            Assert.Equal(i, floats[i].GetProperty("index").GetInt32());
            var values = floats[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            var bytes = Convert.FromBase64String(encoded[i].GetProperty("embedding").GetString()!);
            var decoded = Enumerable.Range(0, bytes.Length / 4).Select(k => System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(k * 4))).ToArray();
            Assert.Equal(values, decoded);
        }

        // The client (whichever format it asks for) reads the same numbers.
        OpenAIEmbeddingCollection viaClient = await Client().GenerateEmbeddingsAsync(Texts);
        Assert.Equal(floats[1].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray(), viaClient[1].ToFloats().ToArray());
    }

    [Fact]
    public async Task TokenIds_StringsAndPooling_AgreeWithEachOther()
    {
        using var http = Http();
        var ids = fixture.Service.TokenizePrompt(TinyModelServer.ModelId, Texts[0]);
        var fromText = await PostAsync(http, new { model = TinyModelServer.ModelId, input = Texts[0] });
        var fromIds = await PostAsync(http, new { model = TinyModelServer.ModelId, input = ids });
        var fromIdArrays = await PostAsync(http, new { model = TinyModelServer.ModelId, input = new[] { ids, ids } });
        OpenAIEmbeddingCollection viaClient = await Client().GenerateEmbeddingsAsync([new ReadOnlyMemory<int>(ids)]);
        string Vector(JsonElement r, int i) => r.GetProperty("data")[i].GetProperty("embedding").GetRawText();
        Assert.Equal(Vector(fromText, 0), Vector(fromIds, 0));
        Assert.Equal(Vector(fromText, 0), Vector(fromIdArrays, 1));
        Assert.Equal(JsonSerializer.Deserialize<float[]>(Vector(fromText, 0)), viaClient[0].ToFloats().ToArray());
        Assert.Equal(2 * ids.Length, fromIdArrays.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var mean = await PostAsync(http, new { model = TinyModelServer.ModelId, input = Texts[0], pooling = "mean" });
        var last = await PostAsync(http, new { model = TinyModelServer.ModelId, input = Texts[0], pooling = "last" });
        var cls = await PostAsync(http, new { model = TinyModelServer.ModelId, input = Texts[0], pooling = "cls" });
        Assert.Equal(Vector(fromText, 0), Vector(mean, 0)); // tiny-a declares no pooling: mean by default
        Assert.NotEqual(Vector(mean, 0), Vector(last, 0));
        Assert.NotEqual(Vector(cls, 0), Vector(last, 0));
    }

    [Fact]
    public async Task Dimensions_EqualToTheWidth_IsAccepted_AnythingElseIs400()
    {
        using var http = Http();
        var ok = await PostAsync(http, new { model = TinyModelServer.ModelId, input = "Hi" });
        var width = ok.GetProperty("data")[0].GetProperty("embedding").GetArrayLength();
        await PostAsync(http, new { model = TinyModelServer.ModelId, input = "Hi", dimensions = width });
        var error = (await PostAsync(http, new { model = TinyModelServer.ModelId, input = "Hi", dimensions = width / 2 }, HttpStatusCode.BadRequest)).GetProperty("error");
        Assert.Equal("dimensions", error.GetProperty("param").GetString());
        Assert.Contains(width.ToString(System.Globalization.CultureInfo.InvariantCulture), error.GetProperty("message").GetString());
        var viaClient = await Assert.ThrowsAsync<ClientResultException>(() => Client().GenerateEmbeddingsAsync(["Hi"], new EmbeddingGenerationOptions { Dimensions = 3 }));
        Assert.Equal(400, viaClient.Status);
    }

    public static TheoryData<string, string, string> Malformed => new()
    {
        { """{"input":"hi"}""", "model", "model" },
        { """{"model":"tiny-a"}""", "input", "input" },
        { """{"model":"tiny-a","input":""}""", "input", "empty" },
        { """{"model":"tiny-a","input":[]}""", "input", "empty" },
        { """{"model":"tiny-a","input":["a",""]}""", "input", "input[1]" },
        { """{"model":"tiny-a","input":[[1,2],[]]}""", "input", "input[1]" },
        { """{"model":"tiny-a","input":["a",[1]]}""", "input", "input[1]" },
        { """{"model":"tiny-a","input":[1,-2]}""", "input", "input[1]" },
        { """{"model":"tiny-a","input":[[1,2],[3,99999]]}""", "input", "input[1]" },
        { """{"model":"tiny-a","input":{"a":1}}""", "input", "input" },
        { """{"model":"tiny-a","input":"hi","encoding_format":"int8"}""", "encoding_format", "base64" },
        { """{"model":"tiny-a","input":"hi","dimensions":0}""", "dimensions", "dimensions" },
        { """{"model":"tiny-a","input":"hi","dimensions":"64"}""", "dimensions", "dimensions" },
        { """{"model":"tiny-a","input":"hi","pooling":"max"}""", "pooling", "pooling" },
        { """{"model":"tiny-a","input":"hi","pooling":3}""", "pooling", "pooling" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task MalformedRequests_Are400_NamingTheField(string body, string param, string mentioned)
    {
        using var http = Http();
        var response = await http.PostAsync("v1/embeddings", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(mentioned, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task AnInputLongerThanTheContext_Is400_NamingItsIndex_AndTooManyInputsIs400()
    {
        using var http = Http();
        var longText = string.Join(' ', Enumerable.Repeat("word", TinyModelServer.ContextLength + 10));
        var error = (await PostAsync(http, new { model = TinyModelServer.ModelId, input = new[] { "short", longText } }, HttpStatusCode.BadRequest)).GetProperty("error");
        Assert.Equal("input", error.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains("input[1]", error.GetProperty("message").GetString());

        var tooMany = (await PostAsync(http, new { model = TinyModelServer.ModelId, input = Enumerable.Repeat("a", 2049).ToArray() }, HttpStatusCode.BadRequest)).GetProperty("error");
        Assert.Equal("input", tooMany.GetProperty("param").GetString());
        Assert.Contains("2048", tooMany.GetProperty("message").GetString());

        var unknown = await http.PostAsync("v1/embeddings", Json(new { model = "nope", input = "hi" }));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }
}
