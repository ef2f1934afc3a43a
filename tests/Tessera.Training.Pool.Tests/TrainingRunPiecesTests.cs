namespace Tessera.Training.Pool.Tests;

/// <summary>The config (JSON and YAML), the tokenized dataset and the checkpoint file.</summary>
public sealed class TrainingRunPiecesTests : IDisposable
{
    private static readonly string LlamaVocab = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"));
    private readonly string _dir = Directory.CreateTempSubdirectory("tessera-train-pieces-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Config_ReadsTheSameFromJsonAndYaml_AndResolvesPathsAgainstItsFolder()
    {
        var json = TrainingConfig.Load(Write("c.json", """
            { "name": "x", "vocabulary": "v.gguf", "data": { "files": ["texts/*.txt"], "sequence_length": 32 },
              "workers": 3, "inner_steps": 20, "compression": "f16", "outer": { "learning_rate": 0.5, "momentum": 0.8 } }
            """));
        var yaml = TrainingConfig.Load(Write("c.yaml", """
            name: x
            vocabulary: v.gguf
            data:
              files: [texts/*.txt]
              sequence_length: 32
            workers: 3
            inner_steps: 20
            compression: f16
            outer: { learning_rate: 0.5, momentum: 0.8 }
            """));
        Assert.Equal(json.ToJson(), yaml.ToJson());
        Assert.Equal(Path.Combine(_dir, "v.gguf"), json.Vocabulary);
        Assert.Equal(Path.Combine(_dir, "texts/*.txt"), json.Data.Files.Single());
        Assert.Equal(DeltaCompression.F16, json.CompressionKind);
        Assert.Equal(0.5f, yaml.Outer.LearningRate);
    }

    [Fact]
    public void Config_ListsEveryProblem()
    {
        var ex = Assert.Throws<TrainingConfigException>(() => TrainingConfig.Load(Write("bad.json", """
            { "name": "a/b", "workers": 0, "compression": "q4", "model": { "dim": 30, "heads": 4 }, "outer": { "momentum": 1.5 } }
            """)));
        foreach (var part in new[] { "name", "vocabulary", "data.files", "workers", "compression", "model.dim", "outer.momentum" })
            Assert.Contains(part, ex.Message);
        var unknown = Assert.Throws<TrainingConfigException>(() => TrainingConfig.Load(Write("typo.json", """{ "inner_stepz": 5 }""")));
        Assert.Contains("inner_stepz", unknown.Message);
    }

    [Fact]
    public void Dataset_TokenizesDocuments_SplitsValidation_AndHandsOutWindowsInASeededOrder()
    {
        var texts = Directory.CreateDirectory(Path.Combine(_dir, "texts")).FullName;
        var docs = Enumerable.Range(0, 40).Select(i => $"Document number {i} says that the quick brown fox jumps over the lazy dog {i} times.").ToList();
        File.WriteAllText(Path.Combine(texts, "a.txt"), string.Join("\n\n", docs.Take(20)));
        File.WriteAllText(Path.Combine(texts, "b.txt"), string.Join("\n%\n", docs.Skip(20)));
        File.WriteAllBytes(Path.Combine(texts, "a.dat"), [1, 0, 2, 0]); // binary beside the texts: a glob skips it
        var config = TrainingConfig.Parse($$"""{ "vocabulary": "{{LlamaVocab}}", "data": { "files": ["{{texts}}/*"], "sequence_length": 16, "validation_fraction": 0.1 } }""", yaml: false);

        var data = TokenDataset.BuildOrLoad(config, LlamaVocab, Path.Combine(_dir, "data"));
        var again = TokenDataset.BuildOrLoad(config, LlamaVocab, Path.Combine(_dir, "data")); // loads the files written

        Assert.Equal(data.TrainTokens, again.TrainTokens);
        // Every 10th of 40 documents is validation: 4 of them, each with BOS.
        Assert.InRange(data.ValidationTokens * 9, data.TrainTokens * 0.8, data.TrainTokens * 1.2);
        var w1 = new int[3 * 17];
        var w2 = new int[3 * 17];
        data.CopyTrainWindows(5, 3, w1);
        again.CopyTrainWindows(5, 3, w2);
        Assert.Equal(w1, w2);
        var inputs = new int[3 * 16];
        var targets = new int[3 * 16];
        TokenDataset.SplitWindows(w1, 16, inputs, targets);
        Assert.Equal(w1.AsSpan(1, 16).ToArray(), targets.AsSpan(0, 16).ToArray());
        Assert.Equal(w1.AsSpan(17, 16).ToArray(), inputs.AsSpan(16, 16).ToArray());
        // One epoch hands out every window once.
        var seen = new HashSet<string>();
        var one = new int[17];
        for (var i = 0; i < data.TrainSequences; i++)
        {
            data.CopyTrainWindows(i, 1, one);
            seen.Add(string.Join(',', one));
        }
        Assert.Equal(data.TrainSequences, seen.Count);
    }

    [Fact]
    public void Dataset_NamesAJsonlLineWithoutTheField()
    {
        var file = Write("d.jsonl", "{\"text\": \"fine\"}\n{\"body\": \"no text field\"}\n");
        var config = TrainingConfig.Parse($$"""{ "vocabulary": "{{LlamaVocab}}", "data": { "files": ["{{file}}"] } }""", yaml: false);
        var ex = Assert.Throws<TrainingConfigException>(() => TokenDataset.BuildOrLoad(config, LlamaVocab, Path.Combine(_dir, "d")));
        Assert.Contains("line 2", ex.Message);
        Assert.Contains("'text'", ex.Message);
    }

    [Fact]
    public void Checkpoint_RoundTrips_AndADamagedNewestFallsBackToTheOneBefore()
    {
        var folder = Path.Combine(_dir, "ck");
        float[] p1 = [1, 2, 3], m1 = [0.1f, 0.2f, 0.3f], p2 = [4, 5, 6], m2 = [0.4f, 0.5f, 0.6f];
        TrainingCheckpoint.Write(folder, Header(1), p1, m1);
        var second = TrainingCheckpoint.Write(folder, Header(2), p2, m2);
        TrainingCheckpoint.Write(folder, Header(3), p2, m2);
        Assert.Equal(2, TrainingCheckpoint.List(folder).Count); // the newest two are kept

        var (header, parameters, momentum) = TrainingCheckpoint.Read(second);
        Assert.Equal(2, header.Round);
        Assert.Equal(p2, parameters);
        Assert.Equal(m2, momentum);

        var newest = TrainingCheckpoint.PathFor(folder, 3);
        File.WriteAllBytes(newest, File.ReadAllBytes(newest)[..^5]); // truncated, as by a full disk
        var ex = Assert.Throws<TrainingConfigException>(() => TrainingCheckpoint.Read(newest));
        Assert.Contains("truncated", ex.Message);
        var warnings = new List<string>();
        Assert.Equal(2, TrainingCheckpoint.ReadLatest(folder, warnings.Add)!.Value.Header.Round);
        Assert.Single(warnings);
    }

    [Fact]
    public void BytesExchanged_IsMeasured_OrForASyncBaselineWhatItsWorkersWouldSend()
    {
        var round = new RoundRecord(3, 1000, 700, 800, 5f, 5f, 1, 1, [], [], DateTimeOffset.UnixEpoch);
        var diloco = TrainingConfig.Parse("""{ "inner_steps": 50 }""", yaml: false);
        var sync = TrainingConfig.Parse("""{ "inner_steps": 50, "sync_baseline_workers": 4 }""", yaml: false);
        Assert.Equal(1500, TrainingPlots.BytesExchanged(diloco, round, 9_000_000));
        // 3 rounds of 50 steps; each step 4 workers send an f32 gradient and receive the average.
        Assert.Equal(3L * 50 * 4 * (4L * 9_000_000 * 2), TrainingPlots.BytesExchanged(sync, round, 9_000_000));
    }

    private static CheckpointHeader Header(int round) => new("run-1", round, round * 10L, round * 100L, 1, 2, 3, [0.5], 4.2f, DateTimeOffset.UnixEpoch);
}
