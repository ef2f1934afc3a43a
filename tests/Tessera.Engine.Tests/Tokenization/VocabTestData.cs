using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Tessera.Engine.Gguf;
using Tessera.Engine.Tokenization;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Tokenization;

/// <summary>
/// The llama.cpp vocab test files: <c>NAME.gguf.inp</c> holds strings separated by "\n__ggml_vocab_test__\n"
/// (read as test-tokenizer-0 does), <c>NAME.gguf.out</c> the expected ids per string, one line each.
/// </summary>
internal static class VocabTestData
{
    public const string LlamaSpm = "ggml-vocab-llama-spm.gguf";
    public const string Phi3 = "ggml-vocab-phi-3.gguf";
    public const string Gpt2 = "ggml-vocab-gpt-2.gguf";

    private const string Separator = "\n__ggml_vocab_test__\n";

    private static readonly ConcurrentDictionary<string, Tokenizer> Tokenizers = new();
    private static readonly ConcurrentDictionary<string, IReadOnlyList<(string Text, int[] Ids)>> Cases = new();

    public static Tokenizer Tokenizer(string vocab) => Tokenizers.GetOrAdd(vocab, v =>
    {
        using var gguf = GgufFile.Open(TestPaths.Vocab(v));
        return Tessera.Engine.Tokenization.Tokenizer.FromGguf(gguf.Metadata);
    });

    public static IReadOnlyList<(string Text, int[] Ids)> Load(string vocab) => Cases.GetOrAdd(vocab, v =>
    {
        var raw = Encoding.UTF8.GetString(File.ReadAllBytes(TestPaths.Vocab(v) + ".inp"));
        var inputs = new List<string>();
        var pos = 0;
        while (pos < raw.Length)
        {
            var next = raw.IndexOf(Separator, pos, StringComparison.Ordinal);
            if (next < 0)
            {
                inputs.Add(raw[pos..]);
                break;
            }
            inputs.Add(raw[pos..next]);
            pos = next + Separator.Length;
        }

        var outputs = File.ReadAllLines(TestPaths.Vocab(v) + ".out", Encoding.UTF8);
        if (inputs.Count != outputs.Length)
            throw new InvalidDataException($"{v}: {inputs.Count} test strings but {outputs.Length} expected id lines.");
        return inputs.Select((text, i) => (text, ParseIds(outputs[i]))).ToList();
    });

    private static int[] ParseIds(string line) =>
        line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture))
            .ToArray();

    /// <summary>(vocab, index) for every test string of the three vocabularies.</summary>
    public static TheoryData<string, int> AllCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var vocab in new[] { LlamaSpm, Phi3, Gpt2 })
        {
            for (var i = 0; i < Load(vocab).Count; i++)
                data.Add(vocab, i);
        }
        return data;
    }

    public static string Show(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
            .Replace("\t", "\\t", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);
}
