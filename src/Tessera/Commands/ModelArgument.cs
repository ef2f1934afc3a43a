using Tessera.Distribution;

namespace Tessera.Cli.Commands;

/// <summary>
/// What a <c>--model</c> names, as a local file: a path; a name <c>tessera models</c> lists (<c>ollama:llama3.2:3b</c>,
/// <c>lmstudio:publisher/repo/file.gguf</c>, an <c>hf://</c> address already in Hugging Face's or Tessera's cache, a
/// <c>sha256:</c> hash in Tessera's cache), used in place; any other <c>hf://owner/repo/file.gguf</c> or
/// <c>hf://owner/repo:TAG</c>, downloaded into Tessera's cache with progress bars on stderr (never with
/// HF_HUB_OFFLINE set); nothing: the small synthetic model.
/// </summary>
internal static class ModelArgument
{
    /// <summary>What --model takes, for the help of every command that resolves it here.</summary>
    public const string Forms =
        "a GGUF path (any part of a split model NAME-00001-of-0000N.gguf opens them all), a name `tessera models` lists (ollama:NAME:TAG, " +
        "lmstudio:..., sha256:HEX), or hf://owner/repo/file.gguf or hf://owner/repo:Q4_K_M, downloaded into Tessera's cache when not on this machine";

    public static string Resolve(string? argument, CancellationToken cancellationToken = default) =>
        ResolveAsync(argument, cancellationToken).GetAwaiter().GetResult();

    public static async Task<string> ResolveAsync(string? argument, CancellationToken cancellationToken = default)
    {
        if (argument is null)
            return DefaultModel.EnsureExists();
        if (File.Exists(argument))
            return argument;
        var models = DiskModels.Find(ModelLocations.ForThisMachine(ContentStore.DefaultRoot()));
        if (DiskModels.Resolve(argument, models) is { } found)
            return found.Path;
        if (HuggingFaceUri.IsHuggingFace(argument))
        {
            var options = HuggingFaceOptions.FromEnvironment();
            using var downloader = new HuggingFaceDownloader(new ContentStore(ContentStore.DefaultRoot()), options);
            return await DownloadProgress.RunAsync(DownloadProgress.ErrorConsole(), progress =>
                HuggingFaceModelFinder.FindOrDownloadAsync(argument, models, downloader, options.Offline, progress, cancellationToken)).ConfigureAwait(false);
        }
        var hint = argument.Contains(':', StringComparison.Ordinal) ? " `tessera models` lists the names found on this machine." : "";
        throw new FileNotFoundException($"Model '{argument}' is neither a file nor a model found on this machine.{hint}");
    }
}
