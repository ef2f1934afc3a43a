using System.Runtime.InteropServices;
using System.Text.Json;
using Tessera.Engine.Gguf;
using Tessera.Engine.Tokenization;

namespace Tessera.Training.Pool;

/// <summary>
/// A run's training and validation tokens. Built once by the coordinator from the config's files (plain text split at
/// blank lines, or JSONL documents), each document tokenized with the vocabulary GGUF's tokenizer and starting with
/// BOS; every <c>round(1/validation_fraction)</c>-th document goes to validation, so both sides see every source.
/// Training sequences are windows of <c>sequence_length + 1</c> tokens with stride <c>sequence_length</c> (input and
/// shifted targets), handed out in a seeded random order that is reshuffled each epoch, so one cursor (a checkpointed
/// number) says what has been trained on.
/// </summary>
public sealed class TokenDataset
{
    private readonly int[] _train;
    private readonly int[] _validation;
    private readonly int _seed;
    private int[]? _order;
    private long _orderEpoch = -1;

    private TokenDataset(int[] train, int[] validation, int sequenceLength, int seed)
    {
        _train = train;
        _validation = validation;
        SequenceLength = sequenceLength;
        _seed = seed;
        TrainSequences = Math.Max(0, (train.Length - 1) / sequenceLength);
        ValidationSequences = Math.Max(0, (validation.Length - 1) / sequenceLength);
        if (TrainSequences == 0)
            throw new TrainingConfigException($"The data gives {train.Length} training tokens, fewer than one sequence of {sequenceLength + 1}: add text or shorten data.sequence_length.");
    }

    /// <summary>Tokens per sequence (inputs; targets are the same shifted by one).</summary>
    public int SequenceLength { get; }

    /// <summary>Training windows in one epoch.</summary>
    public int TrainSequences { get; }

    /// <summary>Validation windows.</summary>
    public int ValidationSequences { get; }

    /// <summary>Training tokens.</summary>
    public long TrainTokens => _train.Length;

    /// <summary>Validation tokens.</summary>
    public long ValidationTokens => _validation.Length;

    /// <summary>Tokenizes the config's files into <paramref name="directory"/> (train.tokens, validation.tokens, dataset.json), or loads them when already there.</summary>
    public static TokenDataset BuildOrLoad(TrainingConfig config, string vocabularyPath, string directory, Action<string>? log = null)
    {
        var trainPath = Path.Combine(directory, "train.tokens");
        var validationPath = Path.Combine(directory, "validation.tokens");
        if (File.Exists(trainPath) && File.Exists(validationPath))
            return new TokenDataset(ReadTokens(trainPath), ReadTokens(validationPath), config.Data.SequenceLength, config.Data.Seed);

        Directory.CreateDirectory(directory);
        using var vocabulary = GgufFile.Open(vocabularyPath);
        var tokenizer = Tokenizer.FromGguf(vocabulary.Metadata);
        var files = ExpandFiles(config.Data.Files);
        var every = config.Data.ValidationFraction > 0 ? Math.Max(2, (int)Math.Round(1 / config.Data.ValidationFraction)) : int.MaxValue;
        var train = new List<int>();
        var validation = new List<int>();
        var documents = 0;
        foreach (var file in files)
        {
            foreach (var document in Documents(file, config.Data))
            {
                var tokens = tokenizer.Encode(document, addSpecial: false);
                if (tokens.Length == 0) continue;
                var target = ++documents % every == 0 ? validation : train;
                if (tokenizer.BosId >= 0) target.Add(tokenizer.BosId);
                target.AddRange(tokens);
            }
            log?.Invoke($"tokenized {file}: {train.Count + validation.Count:N0} tokens so far");
        }
        WriteTokens(trainPath, train);
        WriteTokens(validationPath, validation);
        File.WriteAllText(Path.Combine(directory, "dataset.json"), JsonSerializer.Serialize(new
        {
            files,
            documents,
            train_tokens = train.Count,
            validation_tokens = validation.Count,
            vocabulary = vocabularyPath,
        }, TrainingConfig.Json));
        return new TokenDataset(train.ToArray(), validation.ToArray(), config.Data.SequenceLength, config.Data.Seed);
    }

    /// <summary>The files a list of paths and globs names, sorted, each existing.</summary>
    public static IReadOnlyList<string> ExpandFiles(IEnumerable<string> patterns)
    {
        var files = new List<string>();
        foreach (var pattern in patterns)
        {
            var name = Path.GetFileName(pattern);
            if (name.Contains('*') || name.Contains('?'))
            {
                var folder = Path.GetDirectoryName(pattern)!;
                if (!Directory.Exists(folder)) throw new TrainingConfigException($"data.files: no folder {folder} (from {pattern}).");
                // A glob skips binary files (index files beside text, as fortune's .dat) and links to files already listed.
                var matched = Directory.GetFiles(folder, name).Order(StringComparer.Ordinal)
                    .Where(f => !new FileInfo(f).Attributes.HasFlag(FileAttributes.ReparsePoint) && !LooksBinary(f)).ToList();
                if (matched.Count == 0) throw new TrainingConfigException($"data.files: {pattern} matches no text file.");
                files.AddRange(matched);
            }
            else
            {
                if (!File.Exists(pattern)) throw new TrainingConfigException($"data.files: no file {pattern}.");
                files.Add(pattern);
            }
        }
        return files;
    }

    private static bool LooksBinary(string file)
    {
        var head = new byte[8192];
        using var stream = File.OpenRead(file);
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return head.AsSpan(0, read).Contains((byte)0);
    }

    private static IEnumerable<string> Documents(string file, TrainingConfig.DataSection data)
    {
        var jsonl = data.Format is not null ? data.Format.Equals("jsonl", StringComparison.OrdinalIgnoreCase) : file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase);
        if (data.Format is not null and not "text" and not "jsonl")
            throw new TrainingConfigException($"data.format '{data.Format}' is not supported: use text or jsonl.");
        if (jsonl)
        {
            var number = 0;
            foreach (var line in File.ReadLines(file))
            {
                number++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                string? text;
                try
                {
                    using var json = JsonDocument.Parse(line);
                    text = json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty(data.Field, out var field) && field.ValueKind == JsonValueKind.String
                        ? field.GetString() : null;
                }
                catch (JsonException ex)
                {
                    throw new TrainingConfigException($"{file} line {number} is not JSON: {ex.Message}");
                }
                if (text is null) throw new TrainingConfigException($"{file} line {number} has no string field '{data.Field}' (data.field).");
                yield return text;
            }
            yield break;
        }
        var paragraph = new System.Text.StringBuilder();
        foreach (var line in File.ReadLines(file))
        {
            // Blank lines (and fortune files' lone "%") end a document.
            if (line.Trim().Length == 0 || line == "%")
            {
                if (paragraph.Length > 0) yield return paragraph.ToString();
                paragraph.Clear();
                continue;
            }
            if (paragraph.Length > 0) paragraph.Append('\n');
            paragraph.Append(line);
        }
        if (paragraph.Length > 0) yield return paragraph.ToString();
    }

    /// <summary>
    /// Writes the training windows at cursor positions [<paramref name="cursor"/>, +<paramref name="count"/>) into
    /// <paramref name="destination"/> (count × (sequence_length + 1) tokens).
    /// </summary>
    public void CopyTrainWindows(long cursor, int count, Span<int> destination)
    {
        var width = SequenceLength + 1;
        if (destination.Length < count * width) throw new ArgumentException("The destination is too small.", nameof(destination));
        for (var i = 0; i < count; i++)
        {
            var position = cursor + i;
            var window = OrderFor(position / TrainSequences)[(int)(position % TrainSequences)];
            _train.AsSpan(window * SequenceLength, width).CopyTo(destination.Slice(i * width, width));
        }
    }

    /// <summary>The first <paramref name="count"/> validation windows (fewer when there are fewer), as inputs and targets.</summary>
    public (int[] Inputs, int[] Targets, int Sequences) ValidationBatch(int count)
    {
        count = Math.Min(count, ValidationSequences);
        var inputs = new int[count * SequenceLength];
        var targets = new int[count * SequenceLength];
        for (var i = 0; i < count; i++)
        {
            _validation.AsSpan(i * SequenceLength, SequenceLength).CopyTo(inputs.AsSpan(i * SequenceLength));
            _validation.AsSpan(i * SequenceLength + 1, SequenceLength).CopyTo(targets.AsSpan(i * SequenceLength));
        }
        return (inputs, targets, count);
    }

    /// <summary>Splits windows of sequence_length + 1 tokens into inputs and targets.</summary>
    public static void SplitWindows(ReadOnlySpan<int> windows, int sequenceLength, Span<int> inputs, Span<int> targets)
    {
        var width = sequenceLength + 1;
        var count = windows.Length / width;
        for (var i = 0; i < count; i++)
        {
            windows.Slice(i * width, sequenceLength).CopyTo(inputs.Slice(i * sequenceLength));
            windows.Slice(i * width + 1, sequenceLength).CopyTo(targets.Slice(i * sequenceLength));
        }
    }

    private int[] OrderFor(long epoch)
    {
        if (_orderEpoch == epoch && _order is not null) return _order;
        var order = new int[TrainSequences];
        for (var i = 0; i < order.Length; i++) order[i] = i;
        new Random(unchecked(_seed * 1_000_003 + (int)epoch)).Shuffle(order); // not HashCode: it is seeded per process
        _order = order;
        _orderEpoch = epoch;
        return order;
    }

    private static int[] ReadTokens(string path) => MemoryMarshal.Cast<byte, int>(File.ReadAllBytes(path)).ToArray();

    private static void WriteTokens(string path, List<int> tokens)
    {
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(tokens)).ToArray());
        File.Move(temporary, path, overwrite: true);
    }
}
