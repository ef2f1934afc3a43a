using Tessera.Engine.Gguf;

namespace Tessera.Engine.Synthetic;

/// <summary>
/// Tokenizer metadata for synthetic models: copied from a vocabulary GGUF when one is given, otherwise a
/// SentencePiece-style vocabulary the project makes itself (specials, 256 byte tokens, common English
/// pieces, then unused fillers up to the requested size) so text round-trips through byte fallback.
/// </summary>
public static class SyntheticVocabulary
{
    private static readonly string[] CommonPieces =
    [
        "▁the", "▁a", "▁and", "▁of", "▁to", "▁in", "▁is", "▁it", "▁that", "▁was", "▁for", "▁on", "▁with", "▁as",
        "▁he", "▁she", "▁they", "▁you", "▁I", "▁we", "▁be", "▁at", "▁by", "▁this", "▁had", "▁not", "▁are", "▁but",
        "▁from", "▁or", "▁have", "▁an", "▁were", "▁which", "▁one", "▁all", "▁there", "▁when", "▁up", "▁out",
        "▁Once", "▁upon", "▁time", "▁The", "ing", "ed", "er", "ly", "s", "es", ".", ",", "!", "?", "'", "\"",
    ];

    /// <summary>Adds the tokenizer keys to <paramref name="writer"/> and returns the vocabulary size.</summary>
    public static int AddTo(GgufWriter writer, int vocabSize, string? vocabGgufPath)
    {
        if (vocabGgufPath != null)
            return CopyFrom(writer, vocabGgufPath);

        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { 2, 3, 3 };
        for (var b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(6);
        }
        var seen = new HashSet<string>(tokens);
        void AddPiece(string piece)
        {
            if (tokens.Count < vocabSize && seen.Add(piece))
            {
                tokens.Add(piece);
                types.Add(1);
            }
        }
        foreach (var p in CommonPieces)
            AddPiece(p);
        for (var c = 'a'; c <= 'z'; c++)
        {
            AddPiece(c.ToString());
            AddPiece("▁" + c);
        }
        for (var c = 'A'; c <= 'Z'; c++)
            AddPiece(c.ToString());
        for (var c = '0'; c <= '9'; c++)
            AddPiece(c.ToString());
        AddPiece("▁");
        // Fill with letter pairs and triples (with and without a leading space) so random weights still
        // print readable gibberish rather than nothing.
        const string letters = "etaoinshrdlcumwfgypbvkjxqz";
        foreach (var a in letters)
        {
            foreach (var b in letters)
            {
                AddPiece($"▁{a}{b}");
                AddPiece($"{a}{b}");
            }
        }
        foreach (var a in letters)
        {
            foreach (var b in letters)
            {
                foreach (var c in letters)
                {
                    AddPiece($"▁{a}{b}{c}");
                    AddPiece($"{a}{b}{c}");
                }
            }
        }
        for (var i = 0; tokens.Count < vocabSize; i++)
        {
            tokens.Add($"<unused{i}>");
            types.Add(5);
        }
        if (tokens.Count > vocabSize)
            throw new ArgumentException($"A vocabulary needs at least {tokens.Count} tokens.");

        var scores = new float[tokens.Count];
        for (var i = 0; i < scores.Length; i++)
            scores[i] = types[i] == 1 ? -i : 0f;
        writer.Add("tokenizer.ggml.model", "llama")
            .AddArray("tokenizer.ggml.tokens", GgufValueType.String, tokens.ToArray())
            .AddArray("tokenizer.ggml.scores", GgufValueType.Float32, scores)
            .AddArray("tokenizer.ggml.token_type", GgufValueType.Int32, types.ToArray())
            .Add("tokenizer.ggml.bos_token_id", 1u)
            .Add("tokenizer.ggml.eos_token_id", 2u)
            .Add("tokenizer.ggml.unknown_token_id", 0u)
            .Add("tokenizer.ggml.add_bos_token", true);
        return tokens.Count;
    }

    private static int CopyFrom(GgufWriter writer, string path)
    {
        using var vocab = GgufFile.Open(path);
        var count = 0;
        foreach (var key in vocab.Metadata.Keys)
        {
            if (!key.StartsWith("tokenizer.", StringComparison.Ordinal))
                continue;
            writer.Add(key, vocab.Metadata[key]);
        }
        count = vocab.Metadata.TryGetStringArray("tokenizer.ggml.tokens")?.Length
            ?? throw new GgufFormatException(path, "has no tokenizer.ggml.tokens; it is not a vocabulary file.");
        return count;
    }
}
