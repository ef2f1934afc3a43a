using System.Text.Json;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Models;

/// <summary>
/// Models other tools keep, used where they lie: a machine whose Ollama store holds a model (laid out as ollama writes
/// it) lists it in <c>tessera models</c>, and <c>tessera generate</c> runs it by that name with the text the file gives.
/// </summary>
[Trait("Category", "Process")]
public sealed class DiskModelsProcessTests : IDisposable
{
    private readonly DirectoryInfo _home = Directory.CreateTempSubdirectory("tessera-models-home-");

    public void Dispose() => _home.Delete(recursive: true);

    [Fact]
    public async Task AnOllamaModel_IsListed_AndRunsByItsName()
    {
        var ollama = Path.Combine(_home.FullName, ".ollama", "models");
        var digest = new string('e', 64);
        Directory.CreateDirectory(Path.Combine(ollama, "blobs"));
        File.Copy(TestPaths.Model("tiny-a-q8_0.gguf"), Path.Combine(ollama, "blobs", "sha256-" + digest));
        var manifest = Path.Combine(ollama, "manifests", "registry.ollama.ai", "library", "tiny-a", "q8_0");
        Directory.CreateDirectory(Path.GetDirectoryName(manifest)!);
        await File.WriteAllTextAsync(manifest, $$"""{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{{digest}}"}]}""");
        var environment = new Dictionary<string, string?>
        {
            ["HOME"] = _home.FullName,
            ["OLLAMA_MODELS"] = null, ["HF_HOME"] = null, ["HF_HUB_CACHE"] = null, ["XDG_CACHE_HOME"] = null,
            ["TESSERA_HOME"] = Path.Combine(_home.FullName, ".tessera"), ["TESSERA_CACHE_DIR"] = null,
        };

        var list = await TesseraProcess.RunAsync(["models", "--output", "json"], TimeSpan.FromSeconds(60), environment: environment);
        Assert.True(list.ExitCode == 0, list.Stderr);
        var model = Assert.Single(JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray());
        Assert.Equal("ollama:tiny-a:q8_0", model.GetProperty("name").GetString());
        Assert.Equal(("llama", "Q8_0"), (model.GetProperty("architecture").GetString(), model.GetProperty("quantization").GetString()));

        string[] generate = ["generate", "--prompt", "Once upon a time", "--max-tokens", "6", "--temperature", "0", "--threads", "1"];
        var byName = await TesseraProcess.RunAsync([.. generate, "--model", "ollama:tiny-a:q8_0"], TimeSpan.FromSeconds(60), environment: environment);
        var byPath = await TesseraProcess.RunAsync([.. generate, "--model", TestPaths.Model("tiny-a-q8_0.gguf")], TimeSpan.FromSeconds(60));
        Assert.True(byName.ExitCode == 0, byName.Stderr);
        Assert.Equal(byPath.Stdout, byName.Stdout);

        var missing = await TesseraProcess.RunAsync([.. generate, "--model", "ollama:nothing:here"], TimeSpan.FromSeconds(60), environment: environment);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("Model 'ollama:nothing:here' is neither a file nor a model found on this machine. `tessera models` lists the names found on this machine.",
            missing.Stderr.ReplaceLineEndings(" ").Replace("  ", " ")); // the error is wrapped to the terminal's width
    }
}
