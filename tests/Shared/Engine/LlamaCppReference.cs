using System.Text.Json;
using Tessera.Testing;

namespace Tessera.Testing;

/// <summary>llama.cpp's outputs for the tiny real models (../shared/testdata/models/*.reference.json), by file name.</summary>
internal static class LlamaCppReference
{
    internal sealed record Step(int Id, float LogProb, (int Id, float LogProb)[] Top);

    internal sealed record Case(string Prompt, int[] PromptTokens, Step[] Generated, string Content);

    private static readonly Lazy<Dictionary<string, Case[]>> All = new(Load);

    public static Case[] For(string file) => All.Value[file];

    private static Dictionary<string, Case[]> Load()
    {
        var result = new Dictionary<string, Case[]>();
        foreach (var path in Directory.GetFiles(Path.GetDirectoryName(TestPaths.Model("tiny-a.reference.json"))!, "*.reference.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var file in doc.RootElement.EnumerateObject())
                result[file.Name] = Cases(file.Value);
        }
        return result;
    }

    private static Case[] Cases(JsonElement file)
    {
        var cases = new List<Case>();
        foreach (var c in file.EnumerateArray())
        {
            var steps = c.GetProperty("generated").EnumerateArray().Select(g => new Step(
                g.GetProperty("id").GetInt32(),
                g.GetProperty("logprob").GetSingle(),
                g.GetProperty("top").EnumerateArray().Select(t => (t[0].GetInt32(), t[1].GetSingle())).ToArray())).ToArray();
            cases.Add(new Case(
                c.GetProperty("prompt").GetString()!,
                c.GetProperty("prompt_tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
                steps,
                c.TryGetProperty("content", out var content) ? content.GetString() ?? "" : ""));
        }
        return cases.ToArray();
    }
}
