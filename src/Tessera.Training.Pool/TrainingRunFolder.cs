using System.Security.Cryptography;
using System.Text.Json;
using System.Security.Cryptography.X509Certificates;
using Tessera.Identity;

namespace Tessera.Training.Pool;

/// <summary>What run.json records: the run's identity and, while it runs, where its coordinator listens.</summary>
public sealed record RunInfo(string RunId, DateTimeOffset CreatedAt, string? Address, string VocabularyPath);

/// <summary>
/// A training run's folder: config.json (the config as first run; a restart uses it), run.json, the run CA (ca.crt,
/// ca.key; or the pool's CA when workers are pool nodes), training.key (for /api/training), data/ (tokens),
/// checkpoints/, history.jsonl, workers/NAME/ (identities of workers started here) and the plots.
/// </summary>
public sealed class TrainingRunFolder
{
    private TrainingRunFolder(string root, TrainingConfig config, RunInfo info)
    {
        Root = root;
        Config = config;
        Info = info;
    }

    public string Root { get; }
    public TrainingConfig Config { get; }
    public RunInfo Info { get; private set; }
    public string ConfigPath => Path.Combine(Root, "config.json");
    public string InfoPath => Path.Combine(Root, "run.json");
    public string KeyPath => Path.Combine(Root, "training.key");
    public string DataDirectory => Path.Combine(Root, "data");
    public string CheckpointDirectory => Path.Combine(Root, "checkpoints");
    public string HistoryPath => Path.Combine(Root, "history.jsonl");

    /// <summary>
    /// Creates the folder for <paramref name="config"/>, or opens it to resume: a folder that already holds a run keeps
    /// its own config (the file given is checked to describe the same model and data, so a changed shape cannot be
    /// resumed into a checkpoint by mistake).
    /// </summary>
    public static TrainingRunFolder CreateOrResume(string root, TrainingConfig config)
    {
        Directory.CreateDirectory(root);
        var folder = Path.Combine(root, "config.json");
        var infoPath = Path.Combine(root, "run.json");
        if (File.Exists(folder) && File.Exists(infoPath))
        {
            var stored = TrainingConfig.Parse(File.ReadAllText(folder), yaml: false, folder);
            if (Fingerprint(stored) != Fingerprint(config))
                throw new TrainingConfigException($"{root} holds a run with a different model, data or vocabulary; give another --run-dir or restore the original config.");
            return new TrainingRunFolder(root, stored, ReadInfo(infoPath));
        }
        var vocabulary = config.Vocabulary ?? config.Init!;
        var info = new RunInfo(Secrets.NewId("run-"), DateTimeOffset.UtcNow, null, vocabulary);
        File.WriteAllText(folder, config.ToJson());
        File.WriteAllText(infoPath, JsonSerializer.Serialize(info, TrainingConfig.Json));
        return new TrainingRunFolder(root, config, info);
    }

    /// <summary>Opens an existing run folder (for export, status and plots).</summary>
    public static TrainingRunFolder Open(string root)
    {
        var configPath = Path.Combine(root, "config.json");
        var infoPath = Path.Combine(root, "run.json");
        if (!File.Exists(configPath) || !File.Exists(infoPath))
            throw new TrainingConfigException($"{root} is not a training run folder (no config.json and run.json); give the folder `tessera train` printed.");
        return new TrainingRunFolder(root, TrainingConfig.Parse(File.ReadAllText(configPath), yaml: false, configPath), ReadInfo(infoPath));
    }

    private static RunInfo ReadInfo(string path) =>
        JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(path), TrainingConfig.Json) ?? throw new TrainingConfigException($"{path} is empty.");

    /// <summary>Records the coordinator's address in run.json (null when it stops).</summary>
    public void SetAddress(string? address)
    {
        Info = Info with { Address = address };
        var temporary = InfoPath + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(Info, TrainingConfig.Json));
        File.Move(temporary, InfoPath, overwrite: true);
    }

    /// <summary>The CA workers' certificates must chain to: the pool's when <paramref name="poolDataDirectory"/> is given, else the run's own (created once).</summary>
    public PoolCertificateAuthority Authority(string? poolDataDirectory, TimeProvider time)
    {
        if (poolDataDirectory is not null)
        {
            var cert = Path.Combine(poolDataDirectory, "ca.crt");
            var key = Path.Combine(poolDataDirectory, "ca.key");
            if (!File.Exists(cert) || !File.Exists(key))
                throw new TrainingConfigException($"{poolDataDirectory} holds no pool CA (ca.crt, ca.key): give the coordinator's data folder, or leave out --pool-data to use a CA of the run's own.");
            return PoolCertificateAuthority.Load(cert, key);
        }
        var ownCert = Path.Combine(Root, "ca.crt");
        var ownKey = Path.Combine(Root, "ca.key");
        if (File.Exists(ownCert) && File.Exists(ownKey)) return PoolCertificateAuthority.Load(ownCert, ownKey);
        var authority = PoolCertificateAuthority.Create(Info.RunId, time);
        authority.Save(ownCert, ownKey);
        return authority;
    }

    /// <summary>The key /api/training accepts, created once (readable by the owner only).</summary>
    public string TrainingKey()
    {
        if (File.Exists(KeyPath)) return File.ReadAllText(KeyPath).Trim();
        var key = Secrets.NewSecret();
        PrivateFile.WriteAllText(KeyPath, key);
        return key;
    }

    /// <summary>Issues a worker identity (key, certificate, CA) into <paramref name="directory"/>, reusing one already there.</summary>
    public static string IssueWorker(PoolCertificateAuthority authority, string directory, string name, string runId, TimeProvider time)
    {
        if (NodeIdentity.Exists(directory)) return directory;
        var nodeId = Secrets.NewId("worker-");
        using var certificate = authority.IssueNodeCertificate(nodeId, time);
        using var key = certificate.GetECDsaPrivateKey()!;
        NodeIdentity.Save(directory, new NodeIdentityFile(nodeId, name, runId, "", authority.Fingerprint, time.GetUtcNow()), key,
            certificate.RawData, authority.Certificate.RawData).Dispose();
        return directory;
    }

    /// <summary>What must not change between a run and its resumption.</summary>
    private static string Fingerprint(TrainingConfig c) => JsonSerializer.Serialize(new
    {
        c.Model.Dim, c.Model.Layers, c.Model.Heads, c.Model.KvHeads, c.Model.HiddenDim, c.Init, c.Vocabulary, c.Data.Files, c.Data.SequenceLength,
    });
}
