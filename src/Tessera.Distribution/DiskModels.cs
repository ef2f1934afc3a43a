using System.Text.Json;
using Tessera.Engine.Gguf;

namespace Tessera.Distribution;

/// <summary>A GGUF file already on this machine, found where another tool keeps its models.</summary>
/// <param name="Name">What a command takes to use it: <c>hf://owner/repo/file.gguf</c>, <c>ollama:model:tag</c>, <c>lmstudio:publisher/repo/file.gguf</c> or <c>sha256:HEX</c>.</param>
/// <param name="Source">Where it was found: "huggingface", "ollama", "lmstudio" or "tessera".</param>
/// <param name="Path">The file (a Hugging Face snapshot's link is followed to its blob).</param>
public sealed record DiskModel(string Name, string Source, string Path, long Bytes);

/// <summary>The folders <see cref="DiskModels"/> looks in; <see cref="FromEnvironment"/> gives each tool's own defaults.</summary>
/// <param name="HuggingFaceHub">The Hugging Face hub cache (<c>$HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c>).</param>
/// <param name="Ollama">Ollama's store (<c>$OLLAMA_MODELS</c>, else <c>~/.ollama/models</c>): manifests naming blobs.</param>
/// <param name="LmStudio">LM Studio's model folders (<c>~/.lmstudio/models</c>, and <c>~/.cache/lm-studio/models</c> of older versions).</param>
/// <param name="Tessera">Tessera's content store (files pulled with <c>tessera model pull</c>), when known.</param>
public sealed record ModelLocations(string? HuggingFaceHub, string? Ollama, IReadOnlyList<string> LmStudio, string? Tessera = null)
{
    /// <summary>Each tool's folder as it chooses it, from <paramref name="environment"/> (a variable's value, or null) and the home folder.</summary>
    public static ModelLocations FromEnvironment(Func<string, string?> environment, string home, string? tesseraStore = null)
    {
        static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
        var hub = NonEmpty(environment("HF_HUB_CACHE"))
            ?? (NonEmpty(environment("HF_HOME")) is { } hfHome ? System.IO.Path.Combine(hfHome, "hub") : null)
            ?? System.IO.Path.Combine(NonEmpty(environment("XDG_CACHE_HOME")) ?? System.IO.Path.Combine(home, ".cache"), "huggingface", "hub");
        var ollama = NonEmpty(environment("OLLAMA_MODELS")) ?? System.IO.Path.Combine(home, ".ollama", "models");
        return new ModelLocations(hub, ollama, [System.IO.Path.Combine(home, ".lmstudio", "models"), System.IO.Path.Combine(home, ".cache", "lm-studio", "models")], tesseraStore);
    }

    /// <summary>This process's environment and home folder.</summary>
    public static ModelLocations ForThisMachine(string? tesseraStore = null) =>
        FromEnvironment(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), tesseraStore);
}

/// <summary>
/// Finds the GGUF files other tools already keep on this machine (Hugging Face's cache, Ollama, LM Studio) and Tessera's
/// own, so a command can use them without downloading or copying. Reads folders and small manifests only; never writes.
/// A folder that is missing or unreadable is skipped.
/// </summary>
public static class DiskModels
{
    private static ReadOnlySpan<byte> GgufMagic => "GGUF"u8;

    /// <summary>Every model found, sorted by name.</summary>
    public static IReadOnlyList<DiskModel> Find(ModelLocations where)
    {
        ArgumentNullException.ThrowIfNull(where);
        var found = new List<DiskModel>();
        if (where.HuggingFaceHub is { } hub)
            found.AddRange(HuggingFace(hub));
        if (where.Ollama is { } ollama)
            found.AddRange(Ollama(ollama));
        foreach (var folder in where.LmStudio)
            found.AddRange(LmStudio(folder));
        if (where.Tessera is { } store)
        {
            var named = TesseraNames(store).ToList();
            found.AddRange(named);
            // A blob with a name is listed by it only: a split model's later parts are no models of their own.
            var namedBlobs = named.Select(m => Target(m.Path)).ToHashSet(StringComparer.Ordinal);
            found.AddRange(TesseraStore(store).Where(m => !namedBlobs.Contains(m.Path)));
        }
        var unique = found.GroupBy(m => m.Name, StringComparer.Ordinal).Select(g => g.First()).ToList();
        return CollapseSplitSets(unique).OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// A split model once, as its part 1 (which opens them all) with the bytes of all its parts; its other parts are
    /// not models of their own.
    /// </summary>
    private static IEnumerable<DiskModel> CollapseSplitSets(IReadOnlyList<DiskModel> models)
    {
        var byName = models.ToDictionary(m => m.Name, StringComparer.Ordinal);
        foreach (var model in models)
        {
            if (!GgufSplitName.TryParse(model.Name, out var split) || split.Count == 1)
                yield return model;
            else if (split.Number == 1)
                yield return model with { Bytes = split.AllParts().Sum(part => byName.TryGetValue(part, out var m) ? m.Bytes : 0) };
        }
    }

    /// <summary>The model <paramref name="name"/> names among <paramref name="models"/>, or null.</summary>
    public static DiskModel? Resolve(string name, IReadOnlyList<DiskModel> models)
    {
        ArgumentNullException.ThrowIfNull(name);
        var exact = models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));
        if (exact is not null)
            return exact;
        // Any part of a split model names the model, listed as its part 1.
        if (GgufSplitName.TryParse(name, out var split) && split.Number > 1)
            return Resolve(split.PartName(1), models);
        // "ollama:llama3.2" means its "latest" tag, as ollama itself reads it.
        if (name.StartsWith("ollama:", StringComparison.Ordinal) && name.IndexOf(':', 7) < 0)
            return models.FirstOrDefault(m => m.Name == name + ":latest");
        return null;
    }

    /// <summary>
    /// Hugging Face's cache: <c>models--OWNER--REPO/snapshots/COMMIT/PATH</c>, each file a link to <c>blobs/</c>. The
    /// snapshot <c>refs/main</c> names is <c>hf://OWNER/REPO/PATH</c>; others <c>hf://OWNER/REPO@COMMIT/PATH</c>.
    /// </summary>
    private static IEnumerable<DiskModel> HuggingFace(string hub)
    {
        foreach (var repoDir in Directories(hub, "models--*"))
        {
            var parts = System.IO.Path.GetFileName(repoDir)["models--".Length..].Split("--", 2);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                continue;
            var main = ReadText(System.IO.Path.Combine(repoDir, "refs", "main"))?.Trim();
            foreach (var snapshot in Directories(System.IO.Path.Combine(repoDir, "snapshots"), "*"))
            {
                var commit = System.IO.Path.GetFileName(snapshot);
                var repo = commit == main ? $"{parts[0]}/{parts[1]}" : $"{parts[0]}/{parts[1]}@{commit}";
                foreach (var file in Files(snapshot, "*.gguf", recursive: true))
                {
                    var relative = System.IO.Path.GetRelativePath(snapshot, file).Replace('\\', '/');
                    // A split model's parts are found by their names, which only the snapshot's links carry.
                    var split = GgufSplitName.TryParse(file, out var name) && name.Count > 1;
                    if (Gguf(Target(file)) is { } model)
                        yield return new DiskModel($"hf://{repo}/{relative}", "huggingface", split ? file : model.Path, model.Bytes);
                }
            }
        }
    }

    /// <summary>
    /// Ollama's store: <c>manifests/REGISTRY/NAMESPACE/MODEL/TAG</c>, JSON whose layer of media type
    /// <c>application/vnd.ollama.image.model</c> is the GGUF, kept as <c>blobs/sha256-HEX</c>. Named as ollama names it:
    /// <c>ollama:MODEL:TAG</c> for the default registry's library, the namespace and registry added otherwise.
    /// </summary>
    private static IEnumerable<DiskModel> Ollama(string root)
    {
        var manifests = System.IO.Path.Combine(root, "manifests");
        foreach (var manifest in Files(manifests, "*", recursive: true))
        {
            var parts = System.IO.Path.GetRelativePath(manifests, manifest).Replace('\\', '/').Split('/');
            if (parts.Length != 4)
                continue;
            var (registry, space, model, tag) = (parts[0], parts[1], parts[2], parts[3]);
            var digest = ModelLayer(manifest);
            if (digest is null || !digest.StartsWith("sha256:", StringComparison.Ordinal))
                continue;
            var blob = System.IO.Path.Combine(root, "blobs", "sha256-" + digest["sha256:".Length..]);
            var prefix = registry == "registry.ollama.ai" ? space == "library" ? "" : space + "/" : $"{registry}/{space}/";
            if (Gguf(blob) is { } found)
                yield return new DiskModel($"ollama:{prefix}{model}:{tag}", "ollama", found.Path, found.Bytes);
        }
    }

    private static string? ModelLayer(string manifest)
    {
        try
        {
            using var doc = JsonDocument.Parse(ReadText(manifest) ?? "");
            if (!doc.RootElement.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
                return null;
            foreach (var layer in layers.EnumerateArray())
            {
                if (layer.TryGetProperty("mediaType", out var type) && type.GetString() == "application/vnd.ollama.image.model"
                    && layer.TryGetProperty("digest", out var digest))
                    return digest.GetString();
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    /// <summary>LM Studio: <c>PUBLISHER/REPO/FILE.gguf</c> under its models folder, named <c>lmstudio:PUBLISHER/REPO/FILE.gguf</c>.</summary>
    private static IEnumerable<DiskModel> LmStudio(string root)
    {
        foreach (var file in Files(root, "*.gguf", recursive: true))
        {
            var relative = System.IO.Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.Count(c => c == '/') >= 2 && Gguf(file) is { } found)
                yield return new DiskModel("lmstudio:" + relative, "lmstudio", found.Path, found.Bytes);
        }
    }

    /// <summary>
    /// Files Tessera downloaded from Hugging Face, under their names in its store (<c>models/OWNER/REPO/REVISION/PATH</c>,
    /// links to blobs): <c>hf://OWNER/REPO/PATH</c> for revision main, <c>hf://OWNER/REPO@REVISION/PATH</c> otherwise. The
    /// path is the link, beside the other parts of a split model.
    /// </summary>
    private static IEnumerable<DiskModel> TesseraNames(string root)
    {
        var names = System.IO.Path.Combine(root, "models");
        foreach (var file in Files(names, "*.gguf", recursive: true))
        {
            var parts = System.IO.Path.GetRelativePath(names, file).Replace('\\', '/').Split('/', 4);
            if (parts.Length != 4)
                continue;
            var revision = Uri.UnescapeDataString(parts[2]);
            var repo = revision == HuggingFaceUri.DefaultRevision ? $"{parts[0]}/{parts[1]}" : $"{parts[0]}/{parts[1]}@{revision}";
            if (Gguf(file) is { } found)
                yield return new DiskModel($"hf://{repo}/{parts[3]}", "tessera", file, found.Bytes);
        }
    }

    /// <summary>Tessera's content store: every blob that is a GGUF file, named by its hash.</summary>
    private static IEnumerable<DiskModel> TesseraStore(string root)
    {
        foreach (var file in Files(root, "*", recursive: true))
        {
            var name = System.IO.Path.GetFileName(file);
            if (System.IO.Path.GetDirectoryName(file) is { } folder && System.IO.Path.GetFileName(folder) != "sha256")
                continue; // blobs only: not partial files, nor names that happen to be 64 hex digits
            if (name.Length == 64 && name.All(char.IsAsciiHexDigitLower) && Gguf(file) is { } found)
                yield return new DiskModel("sha256:" + name, "tessera", found.Path, found.Bytes);
        }
    }

    /// <summary>The file and its size when it starts as a GGUF file does; null otherwise (or unreadable).</summary>
    private static (string Path, long Bytes)? Gguf(string path)
    {
        try
        {
            using var stream = File.OpenRead(path); // follows a link, so the size is the file's, not the link's
            if (stream.Length < 24)
                return null;
            Span<byte> magic = stackalloc byte[4];
            stream.ReadExactly(magic);
            return magic.SequenceEqual(GgufMagic) ? (System.IO.Path.GetFullPath(path), stream.Length) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Where a link points (Hugging Face's snapshot files link to blobs), else the path itself.</summary>
    private static string Target(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static IEnumerable<string> Directories(string root, string pattern)
    {
        try
        {
            return Directory.Exists(root) ? Directory.GetDirectories(root, pattern) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static IEnumerable<string> Files(string root, string pattern, bool recursive)
    {
        try
        {
            return Directory.Exists(root)
                ? Directory.GetFiles(root, pattern, new EnumerationOptions { RecurseSubdirectories = recursive, IgnoreInaccessible = true, MaxRecursionDepth = 8 })
                : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
