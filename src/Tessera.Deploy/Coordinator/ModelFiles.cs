using System.Globalization;
using Microsoft.Extensions.Logging;
using Tessera.Distribution;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Jinja;
using Tessera.Planner;

namespace Tessera.Deploy;

/// <summary>A model in the coordinator's content store: where it is, its SHA-256 and its size.</summary>
internal sealed record ModelFile(string Path, string Sha256, long Bytes);

/// <summary>
/// The coordinator's model files: resolves a deployment's model (a local GGUF or hf://) into its content store by
/// SHA-256, reads what the coordinator needs of it in one pass (<see cref="ModelFacts"/>), and cuts the slice of each
/// stage, which agents then fetch from the store (served at /blobs).
/// </summary>
/// <param name="maxDownloadBytes">The largest file an hf:// download may bring (<see cref="HuggingFaceOptions.MaxDownloadBytes"/>).</param>
internal sealed class ModelFiles(ContentStore content, ILoggerFactory loggerFactory, TimeProvider time,
    long maxDownloadBytes = HuggingFaceOptions.DefaultMaxDownloadBytes)
{
    public ContentStore Content => content;

    /// <summary>The model in the content store, importing a local file (its hash cached by path, size and time) or downloading hf://.</summary>
    /// <exception cref="DeploymentException">Invalid: no such file, or the download failed; the message says why.</exception>
    public async Task<ModelFile> ResolveAsync(string model, CancellationToken cancellationToken)
    {
        try
        {
            if (HuggingFaceUri.IsHuggingFace(model))
            {
                using var downloader = NewDownloader();
                var file = await OneFileAsync(downloader, model, cancellationToken).ConfigureAwait(false);
                var download = await downloader.DownloadAsync(file, null, cancellationToken).ConfigureAwait(false);
                return new ModelFile(download.Path, download.Hash.Hex, download.Size);
            }
            var full = Path.GetFullPath(model);
            if (!File.Exists(full))
                throw new FileNotFoundException($"No file {full} on the coordinator's machine. Give a GGUF path there, hf://owner/repo/file.gguf or hf://owner/repo:Q4_K_M.");
            if (GgufSplitName.TryParse(full, out var split) && split.Count > 1)
                throw RefuseSplit(model, Path.GetFileName(full), split.Count);
            var info = new FileInfo(full);
            var key = string.Create(CultureInfo.InvariantCulture, $"file:{full}:{info.Length}:{info.LastWriteTimeUtc.Ticks}");
            if (!content.TryGetRef(key, out var hash) || await content.TryGetVerifiedAsync(hash, cancellationToken).ConfigureAwait(false) is null)
            {
                hash = await content.ImportAsync(full, cancellationToken).ConfigureAwait(false);
                content.SetRef(key, hash);
            }
            return new ModelFile(content.GetBlobPath(hash), hash.Hex, content.GetSize(hash));
        }
        catch (Exception ex) when (IsResolveFailure(ex))
        {
            throw new DeploymentException(DeploymentErrorKind.Invalid, ex.Message, ex);
        }
    }

    /// <summary>
    /// The model for a plan only: as <see cref="ResolveAsync"/> for a local file or an hf:// model the store holds, but
    /// an hf:// model it does not hold is read for its header alone (<see cref="RemoteGgufHeader"/>): planning needs the
    /// tensor table, not the weights, so nothing is downloaded. Dispose the result to remove that header file.
    /// </summary>
    public async Task<PlanningModel> ResolveForPlanAsync(string model, CancellationToken cancellationToken)
    {
        if (!HuggingFaceUri.IsHuggingFace(model))
            return new PlanningModel(await ResolveAsync(model, cancellationToken).ConfigureAwait(false), null);
        try
        {
            using var downloader = NewDownloader();
            var file = await OneFileAsync(downloader, model, cancellationToken).ConfigureAwait(false);
            var remote = await downloader.ResolveAsync(file, cancellationToken).ConfigureAwait(false);
            if (remote.Sha256 is { } hash && await content.TryGetVerifiedAsync(hash, cancellationToken).ConfigureAwait(false) is { } held)
                return new PlanningModel(new ModelFile(held, hash.Hex, content.GetSize(hash)), null);
            var header = await RemoteGgufHeader.FetchAsync(downloader, file, Path.Combine(Path.GetTempPath(), "tessera-plan"), cancellationToken).ConfigureAwait(false);
            return new PlanningModel(new ModelFile(header, remote.Sha256?.Hex ?? string.Empty, new FileInfo(header).Length), header);
        }
        catch (Exception ex) when (IsResolveFailure(ex) || ex is GgufFormatException)
        {
            throw new DeploymentException(DeploymentErrorKind.Invalid, ex.Message, ex);
        }
    }

    private static bool IsResolveFailure(Exception ex) =>
        ex is IOException or UnauthorizedAccessException or HuggingFaceException or TransferException or ArgumentException or FormatException;

    private HuggingFaceDownloader NewDownloader()
    {
        var hub = HuggingFaceOptions.FromEnvironment();
        hub.MaxDownloadBytes = maxDownloadBytes;
        return new HuggingFaceDownloader(content, hub, logger: loggerFactory.CreateLogger<HuggingFaceDownloader>(), timeProvider: time);
    }

    /// <summary>The one file <paramref name="model"/> names on the hub; a split model is refused before anything is fetched.</summary>
    private static async Task<HuggingFaceUri> OneFileAsync(HuggingFaceDownloader downloader, string model, CancellationToken cancellationToken)
    {
        var files = await downloader.ResolveModelAsync(model, cancellationToken).ConfigureAwait(false);
        return files.Count > 1 ? throw RefuseSplit(model, files[0].FilePath, files.Count) : files[0];
    }

    /// <summary>A model resolved for planning; when it is a header read from the hub, disposing removes that file.</summary>
    internal sealed class PlanningModel(ModelFile file, string? headerPath) : IDisposable
    {
        public ModelFile File => file;

        public void Dispose()
        {
            if (headerPath is not null)
                System.IO.File.Delete(headerPath);
        }
    }

    /// <summary>
    /// Deployments store, hash, slice and serve a model as one blob, so a model split over several files is refused
    /// before anything is downloaded or imported: merged into one file first, it deploys like any other.
    /// </summary>
    private static DeploymentException RefuseSplit(string model, string file, int parts) =>
        new(DeploymentErrorKind.Invalid,
            $"{model} is a model split into {parts} files ({file}, ...); deploy takes a model in one file: merge the parts with " +
            "`llama-gguf-split --merge FIRST-PART OUT.gguf` and deploy OUT.gguf (or choose a quantization published in one file). " +
            "Split models run on one machine with generate, chat, serve and bench.");

    /// <summary>Opens the model for a deployment: its facts, read once, and the open file to cut slices from.</summary>
    /// <exception cref="DeploymentException">Invalid: the file is not a model Tessera can run.</exception>
    public OpenModel Open(ModelFile model, string name, string shownAs)
    {
        GgufFile? file = null;
        try
        {
            file = GgufFile.Open(model.Path);
            return new OpenModel(this, model, file, ReadFacts(file, name));
        }
        catch (Exception ex) when (ex is InvalidDataException or NotSupportedException or FormatException or IOException or ArgumentException or KeyNotFoundException
            or GgufFormatException or TemplateException)
        {
            file?.Dispose();
            throw new DeploymentException(DeploymentErrorKind.Invalid, $"{shownAs} is not a model Tessera can run: {ex.Message}", ex);
        }
    }

    /// <summary>The facts of a model already deployed (after a restart, or for a re-plan), read once from its file.</summary>
    public ModelFacts ReadFacts(ModelFile model, string name)
    {
        using var file = GgufFile.Open(model.Path);
        return ReadFacts(file, name);
    }

    /// <summary>
    /// The file a stage of <paramref name="model"/> loads: the whole model, or the slice of its layers (cut on first
    /// use, reused after), from <paramref name="source"/> when it is open already.
    /// </summary>
    public async Task<ModelFile> StageFileAsync(ModelFile model, LayerRange layers, int layerCount, bool slice, GgufFile? source, CancellationToken cancellationToken)
    {
        if (!slice)
            return model;
        var hash = await GgufSlicer.GetOrCreateAsync(content, ContentHash.Parse(model.Sha256), layers, layers.First == 0, layers.Last == layerCount,
            cancellationToken, source).ConfigureAwait(false);
        return new ModelFile(content.GetBlobPath(hash), hash.Hex, content.GetSize(hash));
    }

    /// <summary>Cuts again the slices of <paramref name="deployment"/> that were evicted from the store (after a restart).</summary>
    public async Task RepairAsync(StoredDeployment deployment, CancellationToken cancellationToken)
    {
        var model = new ModelFile(deployment.ModelPath, deployment.ModelSha256, deployment.ModelBytes);
        foreach (var stage in deployment.Stages)
        {
            if (stage.FileSha256 != deployment.ModelSha256 && !content.Contains(ContentHash.Parse(stage.FileSha256)))
                await StageFileAsync(model, new LayerRange(stage.FirstLayer, stage.LastLayer), deployment.LayerCount, slice: true, null, cancellationToken).ConfigureAwait(false);
        }
    }

    private static ModelFacts ReadFacts(GgufFile file, string name)
    {
        var config = ModelConfig.FromGguf(file);
        var source = file.Metadata.TryGetString("tokenizer.chat_template");
        return new ModelFacts(ModelProfile.FromGguf(file, config, name), config.ContextLength, Tokenizer.FromGguf(file.Metadata),
            source is null ? null : ChatTemplate.Parse(source));
    }

    /// <summary>A model open while a deployment is created: its facts, and slices cut from the open file.</summary>
    internal sealed class OpenModel(ModelFiles files, ModelFile model, GgufFile file, ModelFacts facts) : IDisposable
    {
        public ModelFile Model => model;

        public ModelFacts Facts => facts;

        public Task<ModelFile> StageFileAsync(LayerRange layers, int layerCount, bool slice, CancellationToken cancellationToken) =>
            files.StageFileAsync(model, layers, layerCount, slice, file, cancellationToken);

        public void Dispose() => file.Dispose();
    }
}
