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

        // Tessera's store: blobs named by their hash (a partial download is none)
        Gguf(Home("tessera", "content", "blobs", "sha256", new string('d', 64)));
        Gguf(Home("tessera", "content", "partial", new string('e', 64)));
        Assert.Equal("sha256:" + new string('d', 64), Assert.Single(DiskModels.Find(where)).Name);
    }

    [Fact]
    public void ASplitModel_IsListedOnceAsItsFirstPart_WithTheBytesOfAllItsParts_AndAnyPartNamesIt()
    {
        var snapshot = Home(".cache", "huggingface", "hub", "models--acme--big-GGUF", "snapshots", "c0ffee");
        for (var i = 1; i <= 3; i++)
        {
            Gguf(Home(".cache", "huggingface", "hub", "models--acme--big-GGUF", "blobs", "b" + i), 100 * i);
            Directory.CreateDirectory(Path.Combine(snapshot, "Q8_0"));
            File.CreateSymbolicLink(Path.Combine(snapshot, "Q8_0", $"big-Q8_0-0000{i}-of-00003.gguf"), Path.Combine("..", "..", "..", "blobs", "b" + i));
        }
        File.WriteAllText(Directory.CreateDirectory(Home(".cache", "huggingface", "hub", "models--acme--big-GGUF", "refs")).FullName + "/main", "c0ffee");

        var models = DiskModels.Find(ModelLocations.FromEnvironment(_ => null, _home.FullName));

        var model = Assert.Single(models);
        Assert.Equal("hf://acme/big-GGUF/Q8_0/big-Q8_0-00001-of-00003.gguf", model.Name);
        Assert.Equal(600, model.Bytes);
        Assert.Equal(Path.Combine(snapshot, "Q8_0", "big-Q8_0-00001-of-00003.gguf"), model.Path); // beside its parts, by name
        Assert.Same(model, DiskModels.Resolve("hf://acme/big-GGUF/Q8_0/big-Q8_0-00003-of-00003.gguf", models));
    }

    [Fact]
    public async Task FilesTesseraDownloaded_AreListedUnderTheirHfNames()
    {
        var store = new ContentStore(Home("tessera"));
        var path = Home("model.gguf");
        Gguf(path, 128);
        var hash = ContentHash.OfFile(path);
        await store.PublishAsync(path, hash, "test");
        store.SetName("acme/tiny-GGUF/main/tiny.Q4_0.gguf", hash);
        store.SetName("acme/tiny-GGUF/refs%2Fpr%2F3/tiny.Q4_0.gguf", hash);

        var models = DiskModels.Find(new ModelLocations(null, null, [], store.Root));

        Assert.Equal(["hf://acme/tiny-GGUF/tiny.Q4_0.gguf", "hf://acme/tiny-GGUF@refs/pr/3/tiny.Q4_0.gguf"], models.Select(m => m.Name));
        Assert.Equal(Path.Combine(store.NameDirectory, "acme", "tiny-GGUF", "main", "tiny.Q4_0.gguf"), models[0].Path);
        Assert.Equal(128, models[0].Bytes);

        store.Remove(hash); // an evicted blob leaves links that name nothing
        Assert.Empty(DiskModels.Find(new ModelLocations(null, null, [], store.Root)));
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
