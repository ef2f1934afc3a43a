using System.Text.Json;
using System.Text.Json.Serialization;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Tessera.Training.Pool;

/// <summary>
/// What <c>tessera train CONFIG</c> reads (JSON or YAML, snake_case keys; docs/training.md lists every key). Relative
/// paths are resolved against the config file's folder by <see cref="Load"/>.
/// </summary>
public sealed class TrainingConfig
{
    /// <summary>The run's name (its folder under the runs directory).</summary>
    public string Name { get; set; } = "run";

    /// <summary>A GGUF whose tokenizer tokenizes the data and goes into the exported model (a tokenizer-only GGUF is enough).</summary>
    public string? Vocabulary { get; set; }

    /// <summary>A llama GGUF to start from instead of random weights (its shape replaces <see cref="Model"/>; its tokenizer is the default vocabulary).</summary>
    public string? Init { get; set; }

    public ModelSection Model { get; set; } = new();
    public DataSection Data { get; set; } = new();

    /// <summary>How many workers a round waits for before the first round starts.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>Workers <c>tessera train</c> starts itself as processes on this machine (default: <see cref="Workers"/>).</summary>
    public int? LocalWorkers { get; set; }

    /// <summary>Threads per worker (default: this machine's cores divided among the local workers).</summary>
    public int? ThreadsPerWorker { get; set; }

    /// <summary>Sequences per inner step on each worker.</summary>
    public int BatchSequences { get; set; } = 4;

    /// <summary>Inner steps per round (DiLoCo's H); 1 with one worker is plain training.</summary>
    public int InnerSteps { get; set; } = 50;

    /// <summary>Rounds (outer steps) to run.</summary>
    public int Rounds { get; set; } = 10;

    public InnerSection Inner { get; set; } = new();
    public OuterSection Outer { get; set; } = new();

    /// <summary>How parameter changes travel: f32, f16 or int8 (per-block scales).</summary>
    public string Compression { get; set; } = "int8";

    /// <summary>Write a checkpoint every this many rounds (the last round always gets one).</summary>
    public int CheckpointEvery { get; set; } = 1;

    /// <summary>After the first contribution of a round arrives, how long the others are waited for.</summary>
    public double StragglerTimeoutSeconds { get; set; } = 120;

    /// <summary>A worker silent (no progress report) this long is taken as gone and left out of the round.</summary>
    public double WorkerTimeoutSeconds { get; set; } = 15;

    /// <summary>Validation sequences the coordinator evaluates after every round (0: none).</summary>
    public int EvalSequences { get; set; } = 32;

    /// <summary>
    /// Marks this run as the synchronous data-parallel baseline of this many workers, run as one worker with their
    /// global batch (mathematically the same updates, since the gradients of equal shares average to the gradient of
    /// the whole batch). Its plots then count the bytes those workers would exchange: every step, each sends its f32
    /// gradient and receives the average (2 × 4 bytes × parameters × workers a step).
    /// </summary>
    public int? SyncBaselineWorkers { get; set; }

    /// <summary>Where the training coordinator listens (ADDR:PORT; port 0 picks a free one).</summary>
    public string Listen { get; set; } = "127.0.0.1:0";

    public sealed class ModelSection
    {
        public int Dim { get; set; } = 128;
        public int Layers { get; set; } = 4;
        public int Heads { get; set; } = 4;
        public int KvHeads { get; set; } = 2;
        public int HiddenDim { get; set; } = 384;
        public float RopeBase { get; set; } = 10000f;
        public float NormEpsilon { get; set; } = 1e-5f;
        public int Seed { get; set; } = 1;
        /// <summary>Initial matrices are uniform in ±scale/√fan-in.</summary>
        public float InitScale { get; set; } = 1f;
    }

    public sealed class DataSection
    {
        /// <summary>Files or globs (* and ? in the last part): plain text, or JSONL with one document per line.</summary>
        public List<string> Files { get; set; } = [];
        /// <summary>"text" or "jsonl" (default: by extension, .jsonl is JSONL).</summary>
        public string? Format { get; set; }
        /// <summary>The JSONL field holding a document's text.</summary>
        public string Field { get; set; } = "text";
        /// <summary>Tokens per training sequence.</summary>
        public int SequenceLength { get; set; } = 64;
        /// <summary>The share of tokens (at the end of the stream) kept for validation.</summary>
        public double ValidationFraction { get; set; } = 0.05;
        /// <summary>Seed of the order in which sequences are handed out.</summary>
        public int Seed { get; set; } = 1;
    }

    public sealed class InnerSection
    {
        public float LearningRate { get; set; } = 1e-3f;
        public float WeightDecay { get; set; } = 0.1f;
        public float Beta1 { get; set; } = 0.9f;
        public float Beta2 { get; set; } = 0.95f;
        public int WarmupSteps { get; set; } = 50;
        public float MinLrFraction { get; set; } = 0.1f;
    }

    public sealed class OuterSection
    {
        public float LearningRate { get; set; } = 0.7f;
        public float Momentum { get; set; } = 0.9f;
    }

    /// <summary>The parsed <see cref="Compression"/>.</summary>
    [JsonIgnore, YamlIgnore]
    public DeltaCompression CompressionKind => DeltaCodec.Parse(Compression);

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads a config (.yaml/.yml as YAML, anything else as JSON), resolves its paths and checks it.</summary>
    public static TrainingConfig Load(string path)
    {
        if (!File.Exists(path)) throw new TrainingConfigException($"No training config at {path}.");
        var text = File.ReadAllText(path);
        var config = Parse(text, path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase), path);
        config.ResolvePaths(Path.GetDirectoryName(Path.GetFullPath(path))!);
        config.Validate();
        return config;
    }

    /// <summary>Parses config text; <paramref name="source"/> names it in errors.</summary>
    public static TrainingConfig Parse(string text, bool yaml, string source = "config")
    {
        try
        {
            if (yaml)
            {
                var deserializer = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build();
                return deserializer.Deserialize<TrainingConfig?>(text) ?? new TrainingConfig();
            }
            return JsonSerializer.Deserialize<TrainingConfig>(text, Json) ?? new TrainingConfig();
        }
        catch (Exception ex) when (ex is JsonException or YamlDotNet.Core.YamlException)
        {
            throw new TrainingConfigException($"{source} is not a valid training config: {ex.Message}", ex);
        }
    }

    /// <summary>The same config as JSON (stored in the run folder, so workers and restarts see exactly what was run).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    internal void ResolvePaths(string baseDirectory)
    {
        string Resolve(string p) => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(baseDirectory, p));
        if (Vocabulary is not null) Vocabulary = Resolve(Vocabulary);
        if (Init is not null) Init = Resolve(Init);
        Data.Files = Data.Files.Select(Resolve).ToList();
    }

    /// <summary>Throws <see cref="TrainingConfigException"/> listing every problem.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        void Need(bool ok, string message) { if (!ok) problems.Add(message); }
        Need(!string.IsNullOrWhiteSpace(Name) && Name.IndexOfAny(['/', '\\']) < 0 && Name is not "." and not "..", "name must be a plain folder name");
        Need(Vocabulary is not null || Init is not null, "give vocabulary (a GGUF with a tokenizer) or init (a llama GGUF)");
        Need(Data.Files.Count > 0, "data.files lists no file");
        Need(Workers >= 1, "workers must be at least 1");
        Need(LocalWorkers is null or >= 0, "local_workers must be 0 or more");
        Need(ThreadsPerWorker is null or >= 1, "threads_per_worker must be at least 1");
        Need(BatchSequences >= 1, "batch_sequences must be at least 1");
        Need(InnerSteps >= 1, "inner_steps must be at least 1");
        Need(Rounds >= 1, "rounds must be at least 1");
        Need((long)InnerSteps * BatchSequences <= 65_536, "inner_steps × batch_sequences (the windows of a round) must be at most 65,536");
        Need(Data.SequenceLength is >= 2 and <= 4096, "data.sequence_length must be 2 to 4096");
        Need(Data.ValidationFraction is >= 0 and < 0.5, "data.validation_fraction must be in [0, 0.5)");
        Need(Inner.LearningRate > 0 && float.IsFinite(Inner.LearningRate), "inner.learning_rate must be positive");
        Need(Inner.WarmupSteps >= 0, "inner.warmup_steps must be 0 or more");
        Need(Inner.MinLrFraction is >= 0 and <= 1, "inner.min_lr_fraction must be in [0, 1]");
        Need(Outer.LearningRate > 0 && float.IsFinite(Outer.LearningRate), "outer.learning_rate must be positive");
        Need(Outer.Momentum is >= 0 and < 1, "outer.momentum must be in [0, 1)");
        Need(CheckpointEvery >= 1, "checkpoint_every must be at least 1");
        Need(StragglerTimeoutSeconds > 0, "straggler_timeout_seconds must be positive");
        Need(WorkerTimeoutSeconds > 0, "worker_timeout_seconds must be positive");
        Need(EvalSequences >= 0, "eval_sequences must be 0 or more");
        Need(SyncBaselineWorkers is null or >= 1, "sync_baseline_workers must be at least 1");
        try { _ = CompressionKind; } catch (FormatException ex) { problems.Add("compression: " + ex.Message); }
        if (Init is null)
        {
            var m = Model;
            Need(m.Dim > 0 && m.Layers > 0 && m.Heads > 0 && m.KvHeads > 0 && m.HiddenDim > 0, "model dimensions must be positive");
            Need(m.Heads > 0 && m.KvHeads > 0 && m.Dim % m.Heads == 0 && m.Heads % m.KvHeads == 0 && m.Dim / m.Heads % 2 == 0,
                "model.dim must be a multiple of model.heads, model.heads of model.kv_heads, and the head width even");
        }
        if (problems.Count > 0)
            throw new TrainingConfigException("The training config has problems:\n  - " + string.Join("\n  - ", problems));
    }

    /// <summary>The model shape for a vocabulary of <paramref name="vocab"/> tokens.</summary>
    public LlamaConfig ModelShape(int vocab) =>
        new(vocab, Model.Dim, Model.Layers, Model.Heads, Model.KvHeads, Model.HiddenDim, Model.RopeBase, Model.NormEpsilon);

    /// <summary>The inner learning-rate schedule over the whole run.</summary>
    public LearningRateSchedule Schedule() =>
        new(Inner.LearningRate, Inner.WarmupSteps, Rounds * InnerSteps, Inner.MinLrFraction);
}

/// <summary>A training config or run folder that cannot be used; the message says what to fix.</summary>
public sealed class TrainingConfigException(string message, Exception? inner = null) : Exception(message, inner);
