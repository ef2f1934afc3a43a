using System.Text.Json;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Models;

/// <summary>
/// <c>tessera generate --model hf://owner/repo:TAG</c> on a machine that does not have the model: it is found through
/// the hub's API (a local server answering as huggingface.co, reached through HF_ENDPOINT, with the token of the token
/// file), every part of the split set downloaded into Tessera's cache, and the text is the unsplit file's. Afterwards it
/// runs with HF_HUB_OFFLINE=1 without asking the hub; a model it does not have is then an error naming the variable.
/// </summary>
[Trait("Category", "Process")]
public sealed class HuggingFaceModelProcessTests : IAsyncLifetime
{
    private readonly DirectoryInfo _home = Directory.CreateTempSubdirectory("tessera-hf-home-");
    private FakeHuggingFace _hub = null!;

    public async Task InitializeAsync() => _hub = await FakeHuggingFace.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        _home.Delete(recursive: true);
    }

    [Fact]
    public async Task ASplitModelNamedByTag_IsDownloadedWhole_GeneratesTheUnsplitText_AndThenRunsOffline()
    {
        // Arrange: the hub holds tiny-a as a Q8_0 split set of three parts and requires the token of the token file
        var parts = GgufSplitWriter.Split(TestPaths.Model("tiny-a-q8_0.gguf"), Path.Combine(_home.FullName, "tiny-a-Q8_0"), 3);
        foreach (var part in parts)
            _hub.Add("acme/tiny-a-GGUF", "main", Path.GetFileName(part), new(await File.ReadAllBytesAsync(part), Lfs: true));
        _hub.Add("acme/tiny-a-GGUF", "main", "tiny-a-Q4_0.gguf", new(await File.ReadAllBytesAsync(TestPaths.Model("tiny-a-q4_0.gguf")), Lfs: true));
        _hub.RequiredToken = "hf_from_file";
        Directory.CreateDirectory(Path.Combine(_home.FullName, ".cache", "huggingface"));
        await File.WriteAllTextAsync(Path.Combine(_home.FullName, ".cache", "huggingface", "token"), "hf_from_file\n");
        var environment = new Dictionary<string, string?>
        {
            ["HOME"] = _home.FullName, ["HF_ENDPOINT"] = _hub.Endpoint.AbsoluteUri, ["TESSERA_HF_ENDPOINT"] = null,
            ["HF_TOKEN"] = null, ["HUGGING_FACE_HUB_TOKEN"] = null, ["HF_TOKEN_PATH"] = null, ["HF_HUB_OFFLINE"] = null,
            ["OLLAMA_MODELS"] = null, ["HF_HOME"] = null, ["HF_HUB_CACHE"] = null, ["XDG_CACHE_HOME"] = null,
            ["TESSERA_HOME"] = Path.Combine(_home.FullName, ".tessera"), ["TESSERA_CACHE_DIR"] = null,
        };
        string[] generate = ["generate", "--prompt", "Once upon a time", "--max-tokens", "6", "--temperature", "0", "--threads", "1"];
        var byPath = await TesseraProcess.RunAsync([.. generate, "--model", TestPaths.Model("tiny-a-q8_0.gguf")], TimeSpan.FromSeconds(60));
        Assert.True(byPath.ExitCode == 0, byPath.Stderr);

        // Act
        var downloaded = await TesseraProcess.RunAsync([.. generate, "--model", "hf://acme/tiny-a-GGUF:Q8_0"], TimeSpan.FromSeconds(120), environment: environment);
        var asked = _hub.HubRequests.Count;
        environment["HF_HUB_OFFLINE"] = "1";
        var offline = await TesseraProcess.RunAsync([.. generate, "--model", "hf://acme/tiny-a-GGUF:Q8_0"], TimeSpan.FromSeconds(60), environment: environment);
        var notCached = await TesseraProcess.RunAsync([.. generate, "--model", "hf://acme/tiny-a-GGUF/tiny-a-Q4_0.gguf"], TimeSpan.FromSeconds(60), environment: environment);
        var list = await TesseraProcess.RunAsync(["models", "--output", "json"], TimeSpan.FromSeconds(60), environment: environment);

        // Assert
        Assert.True(downloaded.ExitCode == 0, downloaded.Stderr);
        Assert.Equal(byPath.Stdout, downloaded.Stdout);
        Assert.Equal(3, _hub.CdnRequests.Count);
        Assert.All(_hub.HubRequests, r => Assert.Contains("auth=Bearer hf_from_file", r));
        Assert.True(offline.ExitCode == 0, offline.Stderr);
        Assert.Equal(byPath.Stdout, offline.Stdout);
        Assert.Equal(asked, _hub.HubRequests.Count);
        Assert.NotEqual(0, notCached.ExitCode);
        Assert.Contains("HF_HUB_OFFLINE is set", notCached.Stderr.ReplaceLineEndings(" ").Replace("  ", " "));
        Assert.Equal(asked, _hub.HubRequests.Count);
        var names = JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Contains("hf://acme/tiny-a-GGUF/tiny-a-Q8_0-00001-of-00003.gguf", names);
        Assert.Single(names); // its parts are no models of their own, by name or by hash
    }
}
