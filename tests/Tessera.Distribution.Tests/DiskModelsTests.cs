namespace Tessera.Distribution.Tests;

/// <summary>
/// The models other tools keep, found in fake folders laid out as each tool writes them: Hugging Face's cache
/// (snapshots linking to blobs), Ollama's manifests and blobs, LM Studio's publisher/repo folders, Tessera's store.
/// </summary>
public sealed class DiskModelsTests : IDisposable
{
    private readonly DirectoryInfo _home = Directory.CreateTempSubdirectory("tessera-disk-models-");

    public void Dispose() => _home.Delete(recursive: true);

    private string Home(params string[] parts) => Path.Combine([_home.FullName, .. parts]);

    private static void Gguf(string path, int bytes = 64)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var data = new byte[bytes];
        "GGUF"u8.CopyTo(data);
        File.WriteAllBytes(path, data);
    }

    [Fact]
    public void TheCachesOfHuggingFaceOllamaAndLmStudio_AreListedUnderNamesCommandsTake()
    {
        // Hugging Face: the snapshot of refs/main links to a blob; an older snapshot keeps its commit in the name
        var repo = Home(".cache", "huggingface", "hub", "models--Qwen--Qwen2.5-0.5B-Instruct-GGUF");
        Gguf(Path.Combine(repo, "blobs", "abc123"), 100);
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", "c0ffee"));
        File.CreateSymbolicLink(Path.Combine(repo, "snapshots", "c0ffee", "qwen2.5-0.5b-instruct-q8_0.gguf"), Path.Combine("..", "..", "blobs", "abc123"));
        Gguf(Path.Combine(repo, "snapshots", "0ld", "sub", "old.gguf"));
        File.WriteAllText(Path.Combine(repo, "snapshots", "c0ffee", "README.md"), "not a model");
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), "c0ffee\n");
        // Ollama: a manifest naming its model layer's blob
        var ollama = Home(".ollama", "models");
        Gguf(Path.Combine(ollama, "blobs", "sha256-" + new string('a', 64)), 200);
        WriteManifest(Path.Combine(ollama, "manifests", "registry.ollama.ai", "library", "llama3.2", "3b"), "sha256:" + new string('a', 64));
        Gguf(Path.Combine(ollama, "blobs", "sha256-" + new string('b', 64)));
        WriteManifest(Path.Combine(ollama, "manifests", "registry.ollama.ai", "someone", "tiny", "latest"), "sha256:" + new string('b', 64));
        WriteManifest(Path.Combine(ollama, "manifests", "registry.ollama.ai", "library", "gone", "latest"), "sha256:" + new string('c', 64)); // blob missing
        File.WriteAllText(Path.Combine(ollama, "manifests", "registry.ollama.ai", "library", "llama3.2", "broken"), "{ not json");
        // LM Studio, both folders
        Gguf(Home(".lmstudio", "models", "lmstudio-community", "Phi-3-mini-GGUF", "Phi-3-mini-Q4_K_M.gguf"));
        Gguf(Home(".cache", "lm-studio", "models", "TheBloke", "Mistral-GGUF", "mistral.Q5_1.gguf"));
        Directory.CreateDirectory(Home(".lmstudio", "models", "x", "y"));
        File.WriteAllText(Home(".lmstudio", "models", "x", "y", "fake.gguf"), "not gguf at all, just text here");

        var models = DiskModels.Find(ModelLocations.FromEnvironment(_ => null, _home.FullName));

        Assert.Equal(
        [
            ("hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf", "huggingface", 100L),
            ("hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF@0ld/sub/old.gguf", "huggingface", 64L),
            ("lmstudio:TheBloke/Mistral-GGUF/mistral.Q5_1.gguf", "lmstudio", 64L),
            ("lmstudio:lmstudio-community/Phi-3-mini-GGUF/Phi-3-mini-Q4_K_M.gguf", "lmstudio", 64L),
            ("ollama:llama3.2:3b", "ollama", 200L),
            ("ollama:someone/tiny:latest", "ollama", 64L),
        ], models.Select(m => (m.Name, m.Source, m.Bytes)));
        // the link is followed: the path is the blob itself, used in place
        Assert.Equal(Path.Combine(repo, "blobs", "abc123"), models[0].Path);
        Assert.Equal(models[^1], DiskModels.Resolve("ollama:someone/tiny", models));
        Assert.Null(DiskModels.Resolve("ollama:llama3.2", models)); // no "latest" tag
    }

    [Fact]
    public void EachToolsVariable_MovesItsFolder_AndMissingFoldersAreNoError()
    {
        var env = new Dictionary<string, string?>
        {
            ["HF_HOME"] = Home("hf"),
            ["OLLAMA_MODELS"] = Home("ollama-store"),
        };
        var where = ModelLocations.FromEnvironment(v => env.GetValueOrDefault(v), _home.FullName, Home("tessera", "content"));
        Assert.Equal(Home("hf", "hub"), where.HuggingFaceHub);
        Assert.Equal(Home("ollama-store"), where.Ollama);
        Assert.Empty(DiskModels.Find(where));

        env["HF_HUB_CACHE"] = Home("hub-cache");
        Assert.Equal(Home("hub-cache"), ModelLocations.FromEnvironment(v => env.GetValueOrDefault(v), _home.FullName).HuggingFaceHub);

        // Tessera's store: blobs named by their hash
        Gguf(Home("tessera", "content", "blobs", new string('d', 64)));
        Assert.Equal("sha256:" + new string('d', 64), Assert.Single(DiskModels.Find(where)).Name);
    }

    private static void WriteManifest(string path, string digest)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, $$"""
            {"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{{new string('0', 64)}}"},
             "layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:{{new string('1', 64)}}"},
                       {"mediaType":"application/vnd.ollama.image.model","digest":"{{digest}}","size":64}]}
            """);
    }
}
