using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tessera.Api.Protocol;
using Tessera.Generation;

namespace Tessera.Api;

/// <summary>POST /v1/embeddings: OpenAI's request and response, served by <see cref="ITextGenerationService.EmbedAsync"/>.</summary>
internal sealed partial class OpenAiHandler
{
    public Task EmbeddingsAsync(HttpContext http) => HandleMeteredAsync(http, ApiMetrics.Endpoints.Embeddings, async (grant, meter) =>
    {
        EmbeddingRequestBody request;
        ServedModel model;
        IReadOnlyList<int[]> inputs;
        using (EnterPreparation())
        {
            var body = await ReadJsonAsync(http).ConfigureAwait(false);
            request = EmbeddingRequestParser.Parse(body);
            model = Find(request.Model, grant, meter);
            var parsed = request;
            inputs = await TokenizeAdmittedAsync(model, () => parsed.Tokens ?? parsed.Texts!.Select(t => generation.TokenizePrompt(model.Id, t)).ToList(),
                http.RequestAborted).ConfigureAwait(false);
        }
        for (var i = 0; i < inputs.Count; i++)
        {
            if (inputs[i].Length > model.ContextLength)
                throw OpenAiError.Invalid($"input[{i}] has {inputs[i].Length} tokens, more than this model's maximum context length of {model.ContextLength} tokens. Shorten it or split it.",
                    "input", "context_length_exceeded");
        }

        EmbeddingResult result;
        try
        {
            result = await generation.EmbedAsync(model.Id, inputs, new EmbeddingOptions { Pooling = request.Pooling, Dimensions = request.Dimensions },
                http.RequestAborted).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            throw OpenAiError.Invalid(e.Message.Split(" (Parameter '")[0], e.ParamName);
        }
        meter.Prompt(inputs.Sum(i => (long)i.Length));
        await WriteEmbeddingsAsync(http, model.Id, result, request.Base64).ConfigureAwait(false);
    });

    /// <summary>
    /// <c>{"object":"list","data":[{"object":"embedding","index":i,"embedding":[...]}],"model":...,"usage":{...}}</c>; with
    /// base64, each embedding is its float32 values' little-endian bytes in base64, as OpenAI sends them.
    /// </summary>
    private static async Task WriteEmbeddingsAsync(HttpContext http, string model, EmbeddingResult result, bool base64)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(http.Response.Body);
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        byte[] bytes = [];
        for (var i = 0; i < result.Vectors.Count; i++)
        {
            var vector = result.Vectors[i];
            json.WriteStartObject();
            json.WriteString("object", "embedding");
            json.WriteNumber("index", i);
            if (base64)
            {
                if (bytes.Length != vector.Length * sizeof(float))
                    bytes = new byte[vector.Length * sizeof(float)];
                for (var k = 0; k < vector.Length; k++)
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(k * sizeof(float)), vector[k]);
                json.WriteBase64String("embedding", bytes);
            }
            else
            {
                json.WriteStartArray("embedding");
                foreach (var v in vector)
                    json.WriteNumberValue(v);
                json.WriteEndArray();
            }
            json.WriteEndObject();
            if (json.BytesPending > 1 << 16)
                await json.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        }
        json.WriteEndArray();
        json.WriteString("model", model);
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", result.PromptTokens);
        json.WriteNumber("total_tokens", result.PromptTokens);
        json.WriteEndObject();
        json.WriteEndObject();
        await json.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }
}
