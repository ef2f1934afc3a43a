using System.Text;
using Tessera.Testing;

namespace Tessera.Api.Tests.Fuzz;

internal enum Endpoint
{
    Chat,
    Completion,
}

/// <summary>One fuzzed body, with what was done to it (to tell a failure's story).</summary>
internal sealed record FuzzInput(int Index, Endpoint Endpoint, byte[] Body, IReadOnlyList<string> Mutations)
{
    public string Path => Endpoint == Endpoint.Chat ? "v1/chat/completions" : "v1/completions";

    /// <summary>The start of the body, printable, for a failure message.</summary>
    public string Preview(int max = 300)
    {
        var text = Encoding.UTF8.GetString(Body, 0, Math.Min(Body.Length, max));
        return $"#{Index} {Endpoint} [{string.Join("; ", Mutations)}] {Body.Length} bytes: {text}{(Body.Length > max ? "..." : "")}";
    }
}

/// <summary>
/// Makes request bodies for /v1/chat/completions and /v1/completions by mutating a corpus of valid ones with
/// <see cref="JsonMutator"/>, with the fields and values the OpenAI parser reads.
/// </summary>
internal static class RequestFuzzer
{
    public static readonly IReadOnlyList<(Endpoint Endpoint, string Json)> Corpus =
    [
        (Endpoint.Chat, """{"model":"fake","messages":[{"role":"user","content":"hi"}]}"""),
        (Endpoint.Chat, """
            {"model":"fake","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Hel"},{"type":"input_text","text":"lo"}]},
             {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":2}"}}]},
             {"role":"developer","content":"x"},{"role":"tool","tool_call_id":"call_1","name":"add","content":"42"}],
             "temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"repetition_penalty":1.1,"presence_penalty":0.5,"frequency_penalty":-0.5,
             "max_tokens":8,"max_completion_tokens":7,"stop":["\n","END"],"seed":42,"logprobs":true,"top_logprobs":3,
             "stream":true,"stream_options":{"include_usage":true},"n":1,"response_format":{"type":"text"},"tools":[],"ignore_eos":false,"user":"u1"}
            """),
        (Endpoint.Chat, """{"model":"fake","messages":[{"role":"user","content":"2+2="}],"stop":"=","stream":false,"seed":-1,"temperature":0,"max_tokens":3}"""),
        (Endpoint.Chat, """
            {"model":"fake","messages":[{"role":"user","content":"sum"}],"parallel_tool_calls":false,"tool_choice":{"type":"function","function":{"name":"add"}},
             "tools":[{"type":"function","function":{"name":"add","description":"Adds","parameters":{"type":"object","properties":{"a":{"type":"number"}}},"strict":true}},
                      {"type":"function","function":{"name":"sub"}}]}
            """),
        (Endpoint.Chat, """{"model":"fake","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"logprobs":false,"top_logprobs":0,"stream_options":null,"response_format":null,"tools":null}"""),
        (Endpoint.Completion, """{"model":"fake","prompt":"Once upon"}"""),
        (Endpoint.Completion, """
            {"model":"fake","prompt":"Once","max_tokens":5,"temperature":1.2,"top_p":0.95,"top_k":0,"min_p":0,"seed":7,"stop":"\n",
             "echo":true,"logprobs":2,"stream":true,"stream_options":{"include_usage":false},"n":1,"best_of":1,"suffix":"","presence_penalty":0,"frequency_penalty":0}
            """),
        (Endpoint.Completion, """{"model":"fake","prompt":[1,2,3],"max_tokens":4,"logprobs":0}"""),
        (Endpoint.Completion, """{"model":"fake","prompt":[[5,6,7]],"stream":true}"""),
        (Endpoint.Completion, """{"model":"fake","prompt":["one prompt"],"stop":["a","b","c","d"],"ignore_eos":true,"max_tokens":2}"""),
    ];

    /// <summary>Names the parser reads, and some it does not: an added key is one of these.</summary>
    private static readonly string[] Keys =
    [
        "model", "messages", "prompt", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty",
        "max_tokens", "max_completion_tokens", "stop", "seed", "logprobs", "top_logprobs", "stream", "stream_options", "include_usage", "n",
        "best_of", "suffix", "echo", "ignore_eos", "response_format", "tools", "role", "content", "type", "text", "user", "metadata",
        "tool_choice", "parallel_tool_calls", "tool_calls", "tool_call_id", "function", "name", "arguments", "parameters", "strict",
    ];

    /// <summary>Values shaped like the parser's: roles, part types, messages, content parts, long lists of each.</summary>
    private static readonly string[] Values =
    [
        "\"user\"", "\"system\"", "\"fake\"", "\"json_object\"", "\"image_url\"", "\"" + new string('s', 257) + "\"",
        "[{\"type\":\"text\",\"text\":\"x\"}]", "[{\"type\":\"text\"}]", "[{\"type\":\"image_url\",\"image_url\":{}}]",
        "[{\"role\":\"user\"}]", "[{\"role\":\"user\",\"content\":[]}]", "{\"type\":\"text\"}", "{\"type\":\"json_schema\"}",
        "{\"include_usage\":\"yes\"}", "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
        "[" + string.Join(",", Enumerable.Repeat("{\"role\":\"user\",\"content\":\"x\"}", 5_000)) + "]",
        "[" + string.Join(",", Enumerable.Repeat("{\"type\":\"text\",\"text\":\"x\"}", 10_000)) + "]",
    ];

    private static readonly JsonMutator Mutator = new(Keys, Values);

    /// <summary>Input <paramref name="index"/>, drawn with its own <paramref name="rng"/> (<see cref="FuzzRun.Inputs"/>).</summary>
    public static FuzzInput Make(int index, Random rng)
    {
        var (endpoint, json) = Corpus[rng.Next(Corpus.Count)];
        var mutations = new List<string>();
        var body = Mutator.Mutate(rng, json, mutations);
        return new FuzzInput(index, endpoint, body, mutations);
    }
}
