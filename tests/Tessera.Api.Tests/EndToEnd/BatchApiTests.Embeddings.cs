using System.Text.Json;

namespace Tessera.Api.Tests.EndToEnd;

public sealed partial class BatchApiTests
{
    [Fact]
    public async Task ABatchOfEmbeddings_AnswersEveryLine_WithTheVectorsOfTheEndpoint()
    {
        await using var server = await StartAsync();
        using var http = Http(server);
        string[] texts = ["The quick brown fox", "Hello world!", "1, 2, 3"];
        object Body(string text) => new { model = TinyModelServer.ModelId, input = new[] { text, "shared" } };
        var input = await UploadAsync(server, texts.Select((t, i) => JsonSerializer.Serialize(new { custom_id = $"e-{i}", method = "POST", url = "/v1/embeddings", body = Body(t) })));

        var created = await PostJsonAsync(http, "/v1/batches", new { input_file_id = input, endpoint = "/v1/embeddings", completion_window = "24h" });
        var done = await WaitAsync(http, created.GetProperty("id").GetString()!, b => b.GetProperty("status").GetString() == "completed");

        Assert.Equal(3, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        var lines = await DownloadLinesAsync(server, done.GetProperty("output_file_id").GetString()!);
        Assert.Equal(texts.Select((_, i) => $"e-{i}"), lines.Select(l => l.GetProperty("custom_id").GetString()));
        for (var i = 0; i < texts.Length; i++)
        {
            var response = lines[i].GetProperty("response");
            Assert.Equal(200, response.GetProperty("status_code").GetInt32());
            var direct = await PostJsonAsync(http, "/v1/embeddings", Body(texts[i]));
            Assert.Equal(direct.GetProperty("data").GetRawText(), response.GetProperty("body").GetProperty("data").GetRawText());
        }
    }
}
