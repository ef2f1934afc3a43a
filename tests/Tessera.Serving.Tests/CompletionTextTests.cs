using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Tessera.Api;
using Tessera.Engine.Generation;
using Tessera.Engine.Model;
using Tessera.Engine.Synthetic;
using Tessera.Engine.Tensors;
using Tessera.Engine.Tokenization;
using Tessera.Generation;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>
/// The text /v1/completions returns continues the prompt's text, streaming or not, from a model in this process and
/// through a pipeline of stages: the prompt's decode followed by the completion is the decode of the prompt and the
/// generated ids, for every vocabulary of the test data; and on tiny-a it is exactly llama.cpp's completion.
/// </summary>
public sealed class CompletionTextTests
{
    private const string Key = "tsk_completion-text";
    private const int Context = 512;

    public static TheoryData<string> ReferenceFiles() => ["tiny-a-f16.gguf", "tiny-a-q8_0.gguf", "tiny-a-q4_0.gguf"];

    [Theory]
    [MemberData(nameof(ReferenceFiles))]
    public async Task Completions_OnTinyA_AreLlamaCppsContent_LocallyAndThroughAPipeline_StreamingAndNot(string file)
    {
        var model = TestPaths.Model(file);
        using var reference = JsonDocument.Parse(File.ReadAllBytes(TestPaths.Model("tiny-a.reference.json")));
        var cases = reference.RootElement.GetProperty(file).EnumerateArray()
            .Select(c => (Prompt: c.GetProperty("prompt").GetString()!, Content: c.GetProperty("content").GetString()!)).ToList();
        Assert.Contains(cases, c => c.Content.StartsWith(' ')); // the defect this guards: a first word that lost its space

        await foreach (var (path, service) in ServicesAsync(model))
        {
            await using var server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), service, ApiKeyValidators.Single(Key));
            using var http = Client(server);
            foreach (var (prompt, content) in cases)
            {
                foreach (var stream in new[] { false, true })
                    Assert.Equal((path, stream, content), (path, stream, await CompleteAsync(http, prompt, 16, stream)));
            }
        }
    }

    public static TheoryData<string> Vocabularies() => ["ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-gpt-2.gguf"];

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public async Task Completions_InEveryVocabulary_ContinueThePrompt_LocallyAndThroughAPipeline_StreamingAndNot(string vocab)
    {
        using var directory = new TemporaryDirectory();
        var model = Path.Combine(directory.Path, "model.gguf");
        SyntheticModelWriter.Write(model, new ModelShape("vocab-test", 64, 4, 4, 2, 128, 0, Context), GgmlType.Q8_0, TestPaths.Vocab(vocab), seed: 7);
        Tokenizer tokenizer;
        using (var file = Tessera.Engine.Gguf.GgufFile.Open(model))
            tokenizer = Tokenizer.FromGguf(file.Metadata);
        string[] prompts = ["Hello world! 🦙 Привет", "It 's a test , isn't it ?", "1 2 3"];

        List<int[]>? firstIds = null;
        await foreach (var (path, service) in ServicesAsync(model))
        {
            await using var server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), service, ApiKeyValidators.Single(Key));
            using var http = Client(server);
            var ids = new List<int[]>();
            foreach (var prompt in prompts)
            {
                var promptIds = service.TokenizePrompt("model", prompt);
                var generated = new List<int>();
                await foreach (var token in service.GenerateAsync("model", promptIds, new GenerationOptions(SamplingParameters.Greedy, 24), default))
                    generated.Add(token.Id);
                ids.Add([.. generated]);
                var expected = tokenizer.Decode([.. promptIds, .. generated]);
                foreach (var stream in new[] { false, true })
                    Assert.Equal((path, stream, expected), (path, stream, tokenizer.Decode(promptIds) + await CompleteAsync(http, prompt, 24, stream)));
            }
            firstIds ??= ids;
            Assert.Equal(firstIds, ids); // the pipeline generates what the local model does
        }
    }

    /// <summary>The model served in this process, then through three stages (f32 activations: the same ids).</summary>
    private static async IAsyncEnumerable<(string Path, ITextGenerationService Service)> ServicesAsync(string model)
    {
        using (var local = LocalModel.Load(model, threads: 1, contextLength: Context))
        using (var service = new LocalGenerationService(local, "model", new LocalGenerationServiceOptions { ContextLength = Context }))
            yield return ("local", service);

        int blocks;
        using (var file = Tessera.Engine.Gguf.GgufFile.Open(model))
            blocks = ModelConfig.FromGguf(file).BlockCount;
        await using var pipeline = await InProcessPipeline.StartAsync(model, ActivationFormat.F32, $"0-1", $"1-{blocks - 1}", $"{blocks - 1}-{blocks}");
        await using var remote = await PipelineGenerationService.ConnectAsync(model, pipeline.Endpoints, new PipelineGenerationServiceOptions { Id = "model" });
        yield return ("pipeline", remote);
    }

    private static HttpClient Client(OpenAiServer server)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Key);
        return http;
    }

    /// <summary>Greedy /v1/completions: the text, read whole or assembled from the event stream.</summary>
    private static async Task<string> CompleteAsync(HttpClient http, string prompt, int maxTokens, bool stream)
    {
        using var response = await http.PostAsJsonAsync("v1/completions", new { model = "model", prompt, max_tokens = maxTokens, temperature = 0, stream });
        response.EnsureSuccessStatusCode();
        if (!stream)
        {
            using var whole = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return whole.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
        }
        var text = new StringBuilder();
        foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal))
                continue;
            using var chunk = JsonDocument.Parse(line["data: ".Length..]);
            foreach (var choice in chunk.RootElement.GetProperty("choices").EnumerateArray())
                text.Append(choice.GetProperty("text").GetString());
        }
        return text.ToString();
    }

    private sealed class TemporaryDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("tessera-completion-text-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
